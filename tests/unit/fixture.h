/* fixture.h: the example instance of the ListInstances reference, for unit and fuzz tests. */
#ifndef DSWFS_TESTS_FIXTURE_H
#define DSWFS_TESTS_FIXTURE_H

/* Macros, so the text can also initialise constant tables (fuzz seeds) and be built upon. */

/* The example's members up to and including UserName (shared with trimmed variants). */
#define EXAMPLE_INSTANCE_HEAD \
	"{\"WorkspaceId\":\"40823\",\"WorkspaceName\":\"training_data\",\"InstanceId\":\"dsw-730xxxxxxxxxx\"," \
	"\"InstanceName\":\"training_data\",\"EcsSpec\":\"ecs.c6.large\",\"Status\":\"Running\",\"InstanceUrl\":\"https://dsw-cn-shanghai.data.aliyun.com/notebook.htm?instance=39772#/\"," \
	"\"JupyterlabUrl\":\"https://dsw-gateway-cn-shanghai.aliyun.com/dsw-39772/lab/\",\"WebIDEUrl\":\"https://dsw-gateway-cn-shanghai.aliyun.com/dsw-39772/ide/\"," \
	"\"TerminalUrl\":\"https://dsw-gateway-cn-shanghai.aliyun.com/dsw-39772/tty/\",\"AccumulatedRunningTimeInMs\":3600000," \
	"\"ImageId\":\"image-05cefd0be2exxxx\",\"ImageUrl\":\"registry.cn-shanghai.aliyuncs.com/pai_product/tensorflow:py36_cpu_tf1.12_ubuntu\"," \
	"\"ImageName\":\"py36_cpu_tf1.12_ubuntu\",\"GmtCreateTime\":\"2021-01-12T14:36:01Z\",\"GmtModifiedTime\":\"2021-01-12T14:36:01Z\"," \
	"\"UserId\":\"1612285282502324\",\"UserName\":\"测试用户\","

/* The instance from the ListInstances reference's success example, as the API returns it. */
#define EXAMPLE_INSTANCE_JSON \
	EXAMPLE_INSTANCE_HEAD \
	"\"Datasets\":[{\"DatasetId\":\"d-vsqjvsjp4orp5l206u\"," \
	"\"DatasetVersion\":\"v1\",\"Uri\":\"oss://bucket-name.oss-cn-shanghai-internal.aliyuncs.com/data/path/\"," \
	"\"MountPath\":\"/mnt/data\",\"MountAccess\":\"RW\",\"Options\":\"{\\n \\\"fs.oss.download.thread.concurrency\\\": \\\"10\\\"," \
	"\\n \\\"fs.oss.upload.thread.concurrency\\\": \\\"10\\\",\\n \\\"fs.jindo.args\\\": \\\"-oattr_timeout=3 -oentry_timeout=0 -onegative_timeout=0 -oauto_cache -ono_symlink\\\"\\n}\"," \
	"\"OptionType\":\"FastReadWrite\",\"Dynamic\":false}],\"UserVpc\":{\"VpcId\":\"vpc-xxxxx\",\"VSwitchId\":\"vsw-xxxxx\"," \
	"\"SecurityGroupId\":\"sg-xxxxxx\",\"ExtendedCIDRs\":[\"192.168.0.1/24\"],\"DefaultRoute\":\"eth0 | eth1\"," \
	"\"ForwardInfos\":[{\"Enable\":true,\"ContainerName\":\"dsw-notebook\",\"ForwardPort\":\"22\",\"NatGatewayId\":\"ngw-bp1uewa15k4iy5770****\"," \
	"\"EipAllocationId\":\"eip-25877c70gddh****\",\"SSHPublicKey\":\"\",\"ConnectInfo\":{\"Phase\":\"Ready\"," \
	"\"Message\":\"DNAT and privateZone are both ready.\",\"Intranet\":{\"Endpoint\":\"dsw-notebook-22-urz3u6cnu0uts7ej9r.dsw-5cc6083084818f60.dsw.pai.alibaba.com\"," \
	"\"Port\":\"22\"},\"Internet\":{\"Endpoint\":\"47.111.119.114\",\"Port\":\"22\"}},\"Name\":\"ssh\",\"ExternalPort\":\"1024\"," \
	"\"AccessType\":[\"intranet\"]}],\"BandwidthLimit\":{\"EgressWhitelists\":[\"\"],\"IngressRate\":\"\",\"EgressRate\":\"\"," \
	"\"IngressWhitelists\":[\"\"]}},\"InstanceShutdownTimer\":{\"InstanceId\":\"dsw-730xxxxxxxxxx\",\"GmtCreateTime\":\"2021-01-12T14:36:01Z\"," \
	"\"GmtModifiedTime\":\"2021-01-12T14:36:01Z\",\"DueTime\":\"2021-01-12T14:36:01Z\",\"RemainingTimeInMs\":3600000}," \
	"\"ReasonCode\":\"Internal Error\",\"ReasonMessage\":\"ImagePullBackOff\",\"PaymentType\":\"PayAsYouGo\"," \
	"\"LatestSnapshot\":{\"ImageId\":\"image-05cefd0be2exxxx\",\"ImageName\":\"py36_cpu_tf1.12_ubuntu\"," \
	"\"ImageUrl\":\"registry.cn-shanghai.aliyuncs.com/pai_product/tensorflow:py36_cpu_tf1.12_ubuntu\"," \
	"\"RepositoryUrl\":\"https://cr.console.alibabacloud.com/repository/cn-hangzhou/zouxu/kf/images\"," \
	"\"GmtCreateTime\":\"2021-01-12T14:36:01Z\",\"GmtModifiedTime\":\"2021-01-12T14:36:01Z\",\"ReasonCode\":\"Internal Error\"," \
	"\"ReasonMessage\":\"ImagePullBackOff\",\"Status\":\"Pushing\"},\"AcceleratorType\":\"CPU\",\"Accessibility\":\"PRIVATE\"," \
	"\"EnvironmentVariables\":{\"key\":\"MAAS\"},\"ResourceId\":\"dsw-123456789\",\"ResourceName\":\"resource_group\"," \
	"\"Priority\":1,\"RequestedResource\":{\"CPU\":\"32\",\"Memory\":\"32\",\"SharedMemory\":\"32\",\"GPU\":\"4\"," \
	"\"GPUType\":\"NVIDIA A10\"},\"Labels\":[{\"Key\":\"stsTokenOwner\",\"Value\":\"123xxxxxxxx\"}],\"IdleInstanceCuller\":{" \
	"\"InstanceId\":\"dsw-730xxxxxxxxxx\",\"CpuPercentThreshold\":20,\"GpuPercentThreshold\":10,\"MaxIdleTimeInMinutes\":60," \
	"\"IdleTimeInMinutes\":30},\"InstanceSnapshotList\":[{\"ImageId\":\"image-05cefd0be2exxxx\",\"ImageName\":\"py36_cpu_tf1.12_ubuntu\"," \
	"\"ImageUrl\":\"registry.cn-shanghai.aliyuncs.com/pai_product/tensorflow:py36_cpu_tf1.12_ubuntu\"," \
	"\"RepositoryUrl\":\"https://cr.console.alibabacloud.com/repository/cn-hangzhou/zouxu/kf/images\"," \
	"\"GmtCreateTime\":\"2021-01-12T14:36:01Z\",\"GmtModifiedTime\":\"2021-01-12T14:36:01Z\",\"ReasonCode\":\"Internal Error\"," \
	"\"ReasonMessage\":\"ImagePullBackOff\",\"Status\":\"Pushing\"}],\"CloudDisks\":[{\"Capacity\":\"30Gi\"," \
	"\"SubType\":\"rootfs\",\"MountPath\":\"/mmt/workspace\",\"Path\":\"/workspace\"}],\"WorkspaceSource\":\"d-123456789\"," \
	"\"Driver\":\"535.54.03\",\"CredentialConfig\":{\"Enable\":true,\"AliyunEnvRoleKey\":\"0\",\"Configs\":[" \
	"{\"Key\":\"0\",\"Type\":\"Role\",\"Roles\":[{\"RoleArn\":\"acs:ram::123******:role/****\",\"RoleType\":\"service\"," \
	"\"AssumeRoleFor\":\"123******\",\"Policy\":\"{}\",\"UserInfo\":{\"Id\":\"456******\",\"Type\":\"sub\",\"AccessKeyId\":\"LT********\"," \
	"\"SecurityToken\":\"********\"}}]}]},\"Affinity\":{\"CPU\":{\"Enable\":true}},\"ImageAuth\":\"aGFyYm9yYWlAeGltYWxheWE6KioqKioq\"," \
	"\"Tags\":[{\"TagKey\":\"tag1\",\"TagValue\":\"value1\"}],\"DynamicMount\":{\"Enable\":true,\"MountPoints\":[" \
	"{\"RootPath\":\"\",\"Options\":\"\"}]},\"OversoldType\":\"\",\"OversoldInfo\":\"\"}"

static const char example_instance[] = EXAMPLE_INSTANCE_JSON;

#endif
