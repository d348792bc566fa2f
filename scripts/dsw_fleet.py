"""dsw_fleet: deterministic generator of realistic PAI-DSW ListInstances fleets for the local API server.

generate(n, seed) returns a list of instance dicts shaped like the ListInstances reference (plus
TenantId, ServiceConfig, OversoldInfo/OversoldType, UserVpc.Ip, ForwardInfos[].NlbGatewayId and fields
the reference does not know yet). MIGRATION_OPTIONS is what the server puts at the top of a response
body, beside Instances, where the official SDK's model has MigrationOptions. The same (n, seed) always yields the same fleet. The first instances of every fleet
carry the awkward cases real fleets have (see AWKWARD_NAMES and Generator._awkward) so that even a
small fleet contains all of them; the rest are drawn at random.

Speed matters (50,000 instances in a few seconds): sub-objects that need not be unique per instance
(datasets, VPCs, snapshot lists, ...) come from small pools built once per fleet and are shared by
reference; json.dumps does not care.
"""
import base64
import json
import random
import re
import time

REGION = "cn-hangzhou"

# (WorkspaceId, WorkspaceName, weight). 40823 is the caller's default workspace (used when a
# ListInstances request has no WorkspaceId).
WORKSPACES = [
    ("40823", "training_data", 5),
    ("86177", "llm-finetune", 3),
    ("112376", "cv_research", 2),
    ("258103", "推荐算法组", 2),
    ("331952", "default_workspace", 1),
    ("47720", "shared gpu pool", 1),
]
DEFAULT_WORKSPACE = "40823"

STATUSES = ["Creating", "SaveFailed", "Stopped", "Failed", "ResourceAllocating", "Stopping",
            "Updating", "Saving", "Queuing", "Recovering", "Starting", "Running", "Saved",
            "Deleting", "EnvPreparing"]
# Weights for random statuses after the first 15 instances (which take one of each in turn).
STATUS_WEIGHTS = [2, 1, 30, 3, 2, 1, 1, 1, 2, 1, 2, 45, 2, 1, 2]
SNAPSHOT_STATUSES = ["Committing", "Pushing", "Failed", "Saved"]

# Memory of one GPU in GB, by RequestedResource.GPUType, for Min/MaxGpuMemory. A type not listed
# here falls back to a number followed by "G" in its name ("Foo-12G" -> 12); otherwise unknown.
GPU_MEMORY_GB = {
    "NVIDIA A10": 24,
    "Tesla-V100-16G": 16,
    "Tesla-V100-32G": 32,
    "Tesla-T4": 16,
    "Tesla-P100-16G": 16,
    "NVIDIA A100-80G": 80,
    "NVIDIA A100-40G": 40,
    "NVIDIA L20": 48,
    "NVIDIA H20": 96,
    "NVIDIA GeForce RTX 4090": 24,
}

# EcsSpec -> (CPU cores, memory GiB, GPUs, GPUType or None)
ECS_SPECS = {
    "ecs.c6.large": (2, 4, 0, None),
    "ecs.c6.xlarge": (4, 8, 0, None),
    "ecs.g6.xlarge": (4, 16, 0, None),
    "ecs.g6.2xlarge": (8, 32, 0, None),
    "ecs.g7.4xlarge": (16, 64, 0, None),
    "ecs.r7.2xlarge": (8, 64, 0, None),
    "ecs.hfc6.10xlarge": (40, 96, 0, None),
    "ecs.gn6i-c4g1.xlarge": (4, 15, 1, "Tesla-T4"),
    "ecs.gn6v-c8g1.2xlarge": (8, 32, 1, "Tesla-V100-16G"),
    "ecs.gn6v-c8g1.8xlarge": (32, 128, 4, "Tesla-V100-16G"),
    "ecs.gn6e-c12g1.3xlarge": (12, 92, 1, "Tesla-V100-32G"),
    "ecs.gn7i-c8g1.2xlarge": (8, 30, 1, "NVIDIA A10"),
    "ecs.gn7i-c16g1.4xlarge": (16, 60, 1, "NVIDIA A10"),
    "ecs.gn7i-c32g1.16xlarge": (64, 376, 2, "NVIDIA A10"),
    "ecs.gn7-c12g1.3xlarge": (12, 94, 1, "NVIDIA A100-40G"),
    "ecs.gn7e-c16g1.4xlarge": (16, 125, 1, "NVIDIA A100-80G"),
    "ecs.gn7e-c16g1.32xlarge": (128, 1000, 8, "NVIDIA A100-80G"),
    "ecs.gn8is.2xlarge": (8, 64, 1, "NVIDIA L20"),
}
CPU_SPECS = [s for s, v in ECS_SPECS.items() if not v[2]]
GPU_SPECS = [s for s, v in ECS_SPECS.items() if v[2]]

# Resource-quota (subscription) shapes: (CPU, Memory, SharedMemory, GPU, GPUType or None)
QUOTA_SHAPES = [
    ("0.5", "1Gi", "512Mi", "0", None),
    ("2", "8Gi", "4Gi", "0", None),
    ("4", "16Gi", "8Gi", "0", None),
    ("8", "32Gi", "16Gi", "1", "NVIDIA A10"),
    ("16", "128Gi", "64Gi", "2", "NVIDIA A100-80G"),
    ("32", "256Gi", "128Gi", "4", "NVIDIA H20"),
    ("12", "90Gi", "45Gi", "1", "Tesla-V100-32G"),
    ("6", "48", "24", "0.5", "NVIDIA L20"),
]
RESOURCES = [("quota1k6b5ah0m2a8", "lingjun-a100-pool"), ("quotac3e9x1nzq7wd", "ml-team-quota"),
             ("quota8s2m4ztp9hbe", "推理资源组"), ("rg-acfm2ua4oyyvw3q", "general-compute-rg")]

IMAGES = [  # (ImageName, ImageUrl, gpu?)
    ("modelscope:1.9.4-pytorch2.0.1tensorflow2.13.0-cpu-py38-ubuntu20.04",
     "dsw-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai/modelscope:1.9.4-pytorch2.0.1tensorflow2.13.0-cpu-py38-ubuntu20.04", False),
    ("modelscope:1.14.0-pytorch2.1.2-gpu-py310-cu121-ubuntu22.04",
     "dsw-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai/modelscope:1.14.0-pytorch2.1.2-gpu-py310-cu121-ubuntu22.04", True),
    ("pytorch:2.1.2-gpu-py310-cu121-ubuntu22.04",
     "dsw-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai/pytorch:2.1.2-gpu-py310-cu121-ubuntu22.04", True),
    ("tensorflow:2.14-gpu-py310-cu118-ubuntu22.04",
     "dsw-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai/tensorflow:2.14-gpu-py310-cu118-ubuntu22.04", True),
    ("py36_cpu_tf1.12_ubuntu",
     "registry.cn-shanghai.aliyuncs.com/pai_product/tensorflow:py36_cpu_tf1.12_ubuntu", False),
    ("pytorch:1.12-cpu-py39-ubuntu20.04",
     "dsw-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai/pytorch:1.12-cpu-py39-ubuntu20.04", False),
    ("llm-train:v3", "registry.cn-hangzhou.aliyuncs.com/nlp-team/llm-train:v3", True),
    ("recsys-dev:2024.05", "registry-vpc.cn-hangzhou.aliyuncs.com/rec-algo/recsys-dev:2024.05", False),
]
PRIVATE_IMAGES = {"llm-train:v3", "recsys-dev:2024.05"}
GPU_IMAGES = [im for im in IMAGES if im[2]]
CPU_IMAGES = [im for im in IMAGES if not im[2]]

USERS = [  # (UserId, UserName)
    ("1612285282502324", "测试用户"), ("203748123456789012", "alice"),
    ("204938572103948571", "bob.wang"), ("1557702098194136", "张伟"),
    ("209384756102938475", "ml-bot"), ("201029384756473829", "李娜"),
    ("205847362910384756", "data_eng"), ("1873645201937465", "🤖 automation"),
    ("208273645102938476", "carol@example-corp.onaliyun.com"), ("206666666666666666", ""),
]
TENANTS = ["1557702098194136", "1612285282502324"]

LABEL_POOL = [("team", "nlp"), ("team", "cv"), ("team", "rec"), ("env", "dev"), ("env", "prod"),
              ("project", "llm"), ("project", "ranking"), ("owner", "alice"),
              ("kubernetes.io/arch", "amd64"), ("团队", "算法"), ("stsTokenOwner", "1612285282502324"),
              ("cost-center", "R&D 42"), ("priority", "high")]
TAG_POOL = [("acs:rm:rgId", "rg-acfm2ua4oyyvw3q"), ("CostCenter", "R&D"), ("env", "prod"),
            ("env", "staging"), ("项目", "大模型"), ("owner", "bob"), ("billing/unit", "ml-platform")]

ENV_SECRETS = [
    ("HF_TOKEN", "hf_qWeRtYuIoPaSdFgHjKlZxCvBnM1234567"),
    ("OPENAI_API_KEY", "sk-proj-3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"),
    ("WANDB_API_KEY", "7c0f3a9e1b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e"),
    ("DB_PASSWORD", "Pa$$w0rd-for-prod!"),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "x9YzW8vU7tS6rQ5pO4nM3lK2jI1hG0"),
]
ENV_PLAIN = [("PYTHONPATH", "/mnt/workspace/src"), ("TZ", "Asia/Shanghai"), ("NCCL_DEBUG", "INFO"),
             ("userName", "Chris"), ("key", "MAAS"), ("HF_ENDPOINT", "https://hf-mirror.example.com")]

DRIVERS = ["535.54.03", "550.54.15", "470.82.01", "525.105.17"]
REASONS = [("Internal Error", "ImagePullBackOff"), ("ResourceNotEnough", "资源不足，请稍后重试"),
           ("ContainerCrash", "container exited with code 137 (OOMKilled)"),
           ("DatasetMountFailed", "mount oss://bucket/path failed: permission denied")]
OVERSOLD = ["AcceptQuotaOverSold", "ForceQuotaOverSold", "ForbiddenQuotaOverSold"]

# Names real fleets contain and filesystems trip on. Instance i (i < len) takes name i.
LONG_NAME = "very-long-notebook-name-" + "长名字" * 30 + "-" + "x" * 120 + "-end"
AWKWARD_NAMES = [
    "训练数据-实验一",                 # Chinese
    "🚀 emoji notebook 🔥",            # emoji and spaces
    "training_data",                  # duplicated (3x, two in the default workspace)
    "training_data",
    "training_data",
    "a/b/c",                          # slash
    "name with  spaces ",             # double and trailing space
    "multi\nline\nname",              # newlines
    ".",
    "..",
    LONG_NAME,                        # 300+ bytes
    "实验 *~ draft (v2)+!'",          # characters encodeURIComponent leaves alone, '+', unicode
    "tab\tseparated",
    "back\\slash",
    "percent%2Fencoded",
    "-leading-dash",
    "name@dsw-0000000000000000",      # looks like a disambiguated by-name entry
    "",                               # empty name
    None,                             # InstanceName: null
    KeyError,                         # InstanceName missing
    "ZWJ👩‍💻 and RTL \u202eabc",      # zero-width joiner, right-to-left override
    ".hidden",
]
NAME_WORDS = ["training", "eval", "llm", "bert", "resnet", "notebook", "dev", "debug", "sft",
              "rlhf", "data-prep", "qwen", "recsys", "ocr", "asr", "demo", "test", "推理", "调试"]


def iso(t):
    """Formats a UNIX time (seconds) as 2024-05-01T12:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


T_START = 1640995200   # 2022-01-01T00:00:00Z
T_END = 1751328000     # 2025-07-01T00:00:00Z


class Generator:
    """Builds instances for one fleet: pools from the seed, then make(i) per instance."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used_ids = set()
        rng = self.rng
        self.ws_cum = _cumulative([w for _, _, w in WORKSPACES])
        self.status_cum = _cumulative(STATUS_WEIGHTS)
        self.dataset_pool = [self._datasets(rng, k % 6) for k in range(48)]
        self.vpc_pool = [self._vpc(rng, k) for k in range(24)]
        self.snap_pool = [self._snapshots(rng, k % 6) for k in range(48)]
        self.disk_pool = [[], [{"Capacity": "30Gi", "SubType": "rootfs", "MountPath": "/mnt/workspace",
                                "Path": "/workspace"}],
                          [{"Capacity": "100Gi", "SubType": "rootfs", "MountPath": "/mnt/workspace",
                            "Path": "/workspace"}, {"Capacity": "500Gi", "SubType": "data",
                                                     "MountPath": "/mnt/data", "Path": "/"}]]
        self.cred_pool = [self._credential(rng, k) for k in range(8)]
        self.service_pool = self._service_configs(seed)
        self.migration_pool = [{"Enable": False}, {"Enable": True, "Strategy": "Auto",
                                                     "TargetZones": ["cn-hangzhou-h", "cn-hangzhou-k"]}]
        self.label_sets = [self._pairs(rng, LABEL_POOL, k % 5, "Key", "Value") for k in range(40)]
        self.tag_sets = [self._pairs(rng, TAG_POOL, k % 4, "TagKey", "TagValue") for k in range(30)]
        self.env_sets = [self._env(rng, k) for k in range(20)]
        self.ws_sources = ["", "", "", "/mnt/workspace"] + ["d-" + _alnum(rng, 18) for _ in range(4)]
        self._ph = {}      # id(pooled object) -> placeholder string
        self._frags = []   # placeholder number -> the object's JSON text
        for pool in (self.dataset_pool, self.vpc_pool, self.snap_pool, self.disk_pool, self.cred_pool,
                     self.service_pool, self.migration_pool, self.label_sets, self.tag_sets, self.env_sets):
            for obj in pool:
                self._register(obj)
        for snaps in self.snap_pool:
            for s in snaps:
                self._register(s)

    def _register(self, obj):
        if id(obj) not in self._ph:
            self._ph[id(obj)] = "\x00P%d" % len(self._frags)
            self._frags.append(_dumps(obj).encode())

    def serialize(self, inst):
        """inst as compact UTF-8 JSON bytes; pooled sub-objects are spliced in from cached text."""
        ph = self._ph
        flat = None
        for k in _POOLED_KEYS:
            v = inst.get(k)
            if v is not None:
                p = ph.get(id(v))
                if p is not None:
                    if flat is None:
                        flat = dict(inst)
                    flat[k] = p
        raw = _dumps(flat if flat is not None else inst).encode()
        if flat is None:
            return raw
        frags = self._frags
        return _PH_RE.sub(lambda m: frags[int(m.group(1))], raw)

    # --- pools ---------------------------------------------------------------------------------
    @staticmethod
    def _datasets(rng, n):
        out = []
        for j in range(n):
            d = {"DatasetId": "d-" + _alnum(rng, 18), "DatasetVersion": "v%d" % rng.randint(1, 5),
                 "Uri": "oss://bucket-%s.oss-cn-hangzhou-internal.aliyuncs.com/data/path%d/" % (_alnum(rng, 6), j),
                 "MountPath": "/mnt/data%d" % j if j else "/mnt/data",
                 "MountAccess": rng.choice(["RW", "RO"]),
                 "Options": rng.choice(["", '{\n "fs.oss.download.thread.concurrency": "10",\n '
                                            '"fs.oss.upload.thread.concurrency": "10",\n "fs.jindo.args": '
                                            '"-oattr_timeout=3 -oentry_timeout=0 -onegative_timeout=0 '
                                            '-oauto_cache -ono_symlink"\n}']),
                 "OptionType": rng.choice(["FastReadWrite", "ReadOnly", "IncrementalReadWrite", ""]),
                 "Dynamic": rng.random() < 0.2}
            if rng.random() < 0.2:
                del d["DatasetId"]  # a direct OSS mount without a dataset
                del d["DatasetVersion"]
            out.append(d)
        return out

    @staticmethod
    def _vpc(rng, k):
        if k == 0:
            return {}
        v = {"VpcId": "vpc-" + _alnum(rng, 20), "VSwitchId": "vsw-" + _alnum(rng, 20),
             "SecurityGroupId": "sg-" + _alnum(rng, 20),
             "ExtendedCIDRs": ["192.168.%d.0/24" % j for j in range(k % 3)],
             "DefaultRoute": rng.choice(["eth0", "eth1", ""]), "ForwardInfos": []}
        # The SDK model's newer members; derived, not drawn, so every seed's fleet stays the same.
        v["Ip"] = "192.168.%d.%d" % (k % 3, 10 + k)
        for j in range(k % 3):
            v["ForwardInfos"].append({
                "Enable": True, "ContainerName": "dsw-notebook", "ForwardPort": "22",
                "NatGatewayId": "ngw-" + _alnum(rng, 20), "EipAllocationId": "eip-" + _alnum(rng, 16),
                "SSHPublicKey": "" if j else "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + _alnum(rng, 40) + " dev@laptop",
                "ConnectInfo": {"Phase": "Ready", "Message": "DNAT and privateZone are both ready.",
                                "Intranet": {"Endpoint": "dsw-notebook-22-%s.dsw.pai.alibaba.com" % _alnum(rng, 18),
                                             "Port": "22"},
                                "Internet": {"Endpoint": "47.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255),
                                                                         rng.randint(1, 254)), "Port": "22"}},
                "Name": "ssh", "ExternalPort": str(1024 + j), "AccessType": ["intranet"] if j else ["internet"]})
            v["ForwardInfos"][-1]["NlbGatewayId"] = ("nlb-" + v["VSwitchId"][4:24]) if j else ""
        if k % 4 == 1:
            v["BandwidthLimit"] = {"EgressWhitelists": [""], "IngressRate": "", "EgressRate": "100Mbps",
                                   "IngressWhitelists": [""]}
        return v

    @staticmethod
    def _snapshots(rng, n):
        out = []
        t = rng.randint(T_START, T_END - 86400 * 30)
        for _ in range(n):
            t += rng.randint(3600, 86400 * 5)
            name = rng.choice(IMAGES)[0].split(":")[0] + "-snapshot:" + _alnum(rng, 6)
            st = rng.choice(SNAPSHOT_STATUSES)
            out.append({"ImageId": "image-" + _alnum(rng, 16), "ImageName": name,
                        "ImageUrl": "registry.cn-hangzhou.aliyuncs.com/snapshots/" + name,
                        "RepositoryUrl": "https://cr.console.alibabacloud.com/repository/cn-hangzhou/snapshots/%s/images"
                                         % name.split(":")[0],
                        "GmtCreateTime": iso(t), "GmtModifiedTime": iso(t + rng.randint(60, 3600)),
                        "ReasonCode": "Internal Error" if st == "Failed" else "",
                        "ReasonMessage": "push image timeout" if st == "Failed" else "",
                        "Status": st})
        return out

    @staticmethod
    def _credential(rng, k):
        return {"Enable": k % 4 != 3, "AliyunEnvRoleKey": "0", "Configs": [{
            "Key": "0", "Type": "Role", "Roles": [{
                "RoleArn": "acs:ram::155770209819%04d:role/aliyunpaidswdefaultrole" % k,
                "RoleType": "service", "AssumeRoleFor": "1557702098194136", "Policy": "{}",
                "UserInfo": {"Id": "20%016d" % rng.randint(0, 10 ** 15), "Type": "sub",
                             "AccessKeyId": "STS.NU" + _alnum(rng, 22),
                             "SecurityToken": "CAIS" + _alnum(rng, 180) + "=="}}]}]}

    @staticmethod
    def _service_configs(seed):
        """ServiceConfig in the official SDK's shape (four strings; the *Auth members name a
        mode, the SDK lists no values). Own RNG: the fleet's main sequence is unchanged."""
        rng = random.Random("ServiceConfig-%s" % seed)

        def pw():
            return "svc-" + _alnum(rng, 14, "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")

        pool = []
        for k in range(8):
            code, jup = ("password", "none", "password", "password")[k % 4], \
                ("password", "password", "none", "password")[k % 4]
            sc = {"CodeServerAuth": code}
            if code == "password":
                sc["CodeServerPassword"] = pw()
            elif k % 2:
                sc["CodeServerPassword"] = ""
            sc["JupyterServerAuth"] = jup
            if jup == "password":
                sc["JupyterServerPassword"] = pw()
            pool.append(sc)
        return pool

    @staticmethod
    def _pairs(rng, pool, n, kname, vname):
        picked, keys = [], set()
        for k, v in rng.sample(pool, min(n, len(pool))):
            if k in keys:
                continue
            keys.add(k)
            picked.append({kname: k, vname: v})
        return picked

    @staticmethod
    def _env(rng, k):
        env = {}
        for name, val in rng.sample(ENV_PLAIN, k % 4):
            env[name] = val
        for name, val in rng.sample(ENV_SECRETS, k % 3):
            env[name] = val
        return env

    # --- one instance --------------------------------------------------------------------------
    def new_id(self):
        while True:
            iid = "dsw-%016x" % self.rng.getrandbits(64)
            if iid not in self.used_ids:
                self.used_ids.add(iid)
                return iid

    def make(self, i, created=None, awkward=True):
        """Instance number i (awkward cases for small i unless awkward=False); created = UNIX time."""
        rng = self.rng
        r = rng.random
        iid = self.new_id()
        num = 10000 + int(r() * 990000)
        if i < len(STATUSES) and awkward:
            status = STATUSES[i]
        else:
            status = STATUSES[_pick(self.status_cum, r())]
        if i < len(WORKSPACES) and awkward:
            ws = WORKSPACES[i]
        else:
            ws = WORKSPACES[_pick(self.ws_cum, r())]
        subscription = r() < 0.25
        if subscription:
            cpu, mem, shm, gpu, gtype = QUOTA_SHAPES[int(r() * len(QUOTA_SHAPES))]
            spec = ""  # quota instances are sized by RequestedResource alone
            res_id, res_name = RESOURCES[int(r() * len(RESOURCES))]
            rr = {"CPU": cpu, "Memory": mem, "SharedMemory": shm, "GPU": gpu}
            if gtype:
                rr["GPUType"] = gtype
        else:
            specs = GPU_SPECS if r() < 0.4 else CPU_SPECS
            spec = specs[int(r() * len(specs))]
            c, m, g, gtype = ECS_SPECS[spec]
            res_id = res_name = ""
            memstr = ("%dGi" % m) if r() < 0.8 else str(m)
            rr = {"CPU": str(c), "Memory": memstr, "SharedMemory": "%dGi" % max(1, m // 2), "GPU": str(g),
                  "GPUType": gtype or ""}
            gpu = str(g)
        is_gpu = gpu not in ("0", "")
        images = GPU_IMAGES if is_gpu else CPU_IMAGES
        image = images[int(r() * len(images))]
        user = USERS[int(r() * len(USERS))]
        ws_id, ws_name = ws[0], ws[1]
        if created is None:
            created = T_START + int(r() * (T_END - 86400 - T_START))
        modified = min(created + int(r() * 86400 * 120), T_END) if created < T_END else created
        running = status == "Running"
        acc_ms = 60000 + int(r() * 3600000 * 2000) if status in ("Running", "Stopped", "Saved", "Stopping") else 0
        gw = "https://dsw-gateway-%s.data.aliyun.com/dsw-%d" % (REGION, num)
        inst = {
            "WorkspaceId": ws_id, "WorkspaceName": ws_name, "InstanceId": iid,
            "InstanceName": "%s-%s-%d" % (NAME_WORDS[int(r() * len(NAME_WORDS))],
                                          NAME_WORDS[int(r() * len(NAME_WORDS))], num % 1000),
            "EcsSpec": spec, "Status": status,
            "InstanceUrl": "https://dsw-%s.data.aliyun.com/notebook.htm?instance=%d#/" % (REGION, num),
            "JupyterlabUrl": gw + "/lab/", "WebIDEUrl": gw + "/ide/", "TerminalUrl": gw + "/tty/",
            "AccumulatedRunningTimeInMs": acc_ms,
            "ImageId": "image-%016x" % rng.getrandbits(64), "ImageUrl": image[1], "ImageName": image[0],
            "GmtCreateTime": iso(created), "GmtModifiedTime": iso(modified),
            "UserId": user[0], "UserName": user[1],
            "Datasets": self.dataset_pool[int(r() * len(self.dataset_pool))],
            "UserVpc": self.vpc_pool[int(r() * len(self.vpc_pool))],
        }
        if running and r() < 0.3:
            due = modified + rng.randint(600, 86400)
            inst["InstanceShutdownTimer"] = {"InstanceId": iid, "GmtCreateTime": iso(modified),
                                             "GmtModifiedTime": iso(modified), "DueTime": iso(due),
                                             "RemainingTimeInMs": (due - modified) * 1000}
        if status in ("Failed", "SaveFailed"):
            inst["ReasonCode"], inst["ReasonMessage"] = REASONS[int(r() * len(REASONS))]
        else:
            inst["ReasonCode"], inst["ReasonMessage"] = "", ""
        inst["PaymentType"] = "Subscription" if subscription else "PayAsYouGo"
        snaps = self.snap_pool[int(r() * len(self.snap_pool))]
        if snaps and r() < 0.7:
            inst["LatestSnapshot"] = snaps[-1]
        inst["AcceleratorType"] = "GPU" if is_gpu else "CPU"
        inst["Accessibility"] = "PUBLIC" if r() < 0.2 else "PRIVATE"
        inst["EnvironmentVariables"] = self.env_sets[int(r() * len(self.env_sets))]
        if subscription or r() < 0.5:
            inst["ResourceId"], inst["ResourceName"] = res_id, res_name
        inst["Priority"] = 1 + int(r() * 9) if r() < 0.5 else 1
        inst["RequestedResource"] = rr
        inst["Labels"] = self.label_sets[int(r() * len(self.label_sets))]
        if r() < 0.4:
            inst["IdleInstanceCuller"] = {"InstanceId": iid, "CpuPercentThreshold": rng.randint(1, 100),
                                          "GpuPercentThreshold": rng.randint(1, 100),
                                          "MaxIdleTimeInMinutes": rng.choice([30, 60, 120, 1440]),
                                          "IdleTimeInMinutes": rng.randint(0, 60) if running else 0}
        inst["InstanceSnapshotList"] = snaps
        inst["CloudDisks"] = self.disk_pool[int(r() * len(self.disk_pool))]
        inst["WorkspaceSource"] = self.ws_sources[int(r() * len(self.ws_sources))]
        inst["Driver"] = DRIVERS[int(r() * len(DRIVERS))] if is_gpu else ""
        if r() < 0.3:
            inst["CredentialConfig"] = self.cred_pool[int(r() * len(self.cred_pool))]
        if subscription and r() < 0.5:
            inst["Affinity"] = {"CPU": {"Enable": r() < 0.5}}
        if image[0] in PRIVATE_IMAGES:
            auth = "harbor@%s:%s" % (ws_name.replace(" ", "-"), rng.choice(["S3cr3t!Pass", "******", "tok_" + _alnum(rng, 12)]))
            inst["ImageAuth"] = base64.b64encode(auth.encode()).decode()
        inst["Tags"] = self.tag_sets[int(r() * len(self.tag_sets))]
        if r() < 0.3:
            inst["DynamicMount"] = {"Enable": r() < 0.7, "MountPoints": [{"RootPath": "", "Options": ""}]}
        if created > 1735689600 or r() < 0.3:  # arrived in 2025: older instances lack them
            inst["OversoldType"] = rng.choice(OVERSOLD + ["", ""]) if subscription else ""
            inst["OversoldInfo"] = rng.choice(OVERSOLD[1:] + [""]) if inst["OversoldType"] else ""
        inst["TenantId"] = TENANTS[0] if r() < 0.85 else TENANTS[1]
        if r() < 0.6:
            inst["ServiceConfig"] = self.service_pool[int(r() * len(self.service_pool))]
        if r() < 0.3:
            # MigrationOptions belongs to the response body, not to an instance (the SDK model);
            # the draws stay so every seed's fleet is what it was.
            r()
        x = r()
        if x < 0.02:
            inst["FutureField"] = {"Enabled": True, "Nested": {"Level": 2, "List": [1, "two", None]}}
        elif x < 0.03:
            inst["GpuSharing"] = {"Mode": "TimeSlice", "Ratio": 0.25}
        elif x < 0.04:
            inst["Region"] = REGION
        if r() < 0.02:  # occasional null or missing optional members
            inst[rng.choice(["UserVpc", "LatestSnapshot", "Labels", "Tags", "Datasets", "ImageAuth"])] = None
        if r() < 0.02:
            inst.pop(rng.choice(["Datasets", "Labels", "Tags", "CloudDisks", "Driver", "UserName",
                                 "EnvironmentVariables", "WorkspaceSource", "Priority"]), None)
        if awkward and i < len(AWKWARD_NAMES) + 12:
            self._awkward(i, inst)
        return inst

    def _awkward(self, i, inst):
        """Forces the awkward cases onto the first instances so every fleet contains them."""
        if i < len(AWKWARD_NAMES):
            name = AWKWARD_NAMES[i]
            if name is KeyError:
                del inst["InstanceName"]
            else:
                inst["InstanceName"] = name
            if i in (2, 3):  # two of the three duplicates share the default workspace
                inst["WorkspaceId"], inst["WorkspaceName"] = WORKSPACES[0][0], WORKSPACES[0][1]
            return
        k = i - len(AWKWARD_NAMES)
        if k == 0:  # member names that are not valid file names
            inst["EnvironmentVariables"] = {"a/b": "slash-key", "": "empty-key", ".": "dot", "..": "dotdot",
                                            "KEY WITH SPACE": "x", "中文变量": "值",
                                            "HF_TOKEN": "hf_AwkwardSecretValue0123456789"}
        elif k == 1:  # a field the reference does not know yet, with awkward member names
            inst["FutureField"] = {"Nested": {"a/b": 1, "": "empty key", "..": [1, 2], "deep": {"x": None}},
                                   "Enabled": True, "Ratio": 0.75}
        elif k == 2:  # nulls (a never-modified instance's GmtModifiedTime is null too)
            for f in ("UserVpc", "LatestSnapshot", "Labels", "ImageAuth", "Priority", "ReasonCode",
                      "RequestedResource", "Datasets", "GmtModifiedTime"):
                inst[f] = None
        elif k == 3:  # optional fields missing
            for f in ("Datasets", "UserVpc", "Labels", "Tags", "LatestSnapshot", "InstanceSnapshotList",
                      "RequestedResource", "EnvironmentVariables", "IdleInstanceCuller", "CloudDisks",
                      "Driver", "AccumulatedRunningTimeInMs", "GmtModifiedTime"):
                inst.pop(f, None)
        elif k == 4:  # secrets everywhere
            inst["ImageAuth"] = base64.b64encode(b"harborai@ximalaya:hunter2-real").decode()
            inst["CredentialConfig"] = self.cred_pool[0]
            inst["EnvironmentVariables"] = dict(ENV_SECRETS)
        elif k == 5:  # the longest lists
            inst["Datasets"] = self.dataset_pool[5]
            inst["InstanceSnapshotList"] = self.snap_pool[5]
            inst["LatestSnapshot"] = self.snap_pool[5][-1]
            inst["Labels"] = [{"Key": k2, "Value": v} for k2, v in
                              [("team", "nlp"), ("env", "prod"), ("project", "llm"), ("团队", "算法")]]
            inst["Tags"] = [{"TagKey": "CostCenter", "TagValue": "R&D"}, {"TagKey": "项目", "TagValue": "大模型"},
                            {"TagKey": "billing/unit", "TagValue": "ml-platform"}]
        elif k == 6:  # unicode everywhere
            inst["UserName"] = "测试用户"
            inst["WorkspaceName"] = "推荐算法组" if inst["WorkspaceId"] == "258103" else inst["WorkspaceName"]
            inst["ReasonMessage"] = "资源不足，请稍后重试 🙏"
        elif k == 7:  # future top-level scalars and arrays
            inst["FutureList"] = [{"Name": "a/b", "Value": 1}, {"Name": "", "Value": None}]
            inst["FutureScalar"] = 3.5
        elif k == 8:  # a GPU type the GPU-memory table does not know
            inst["RequestedResource"] = {"CPU": "8", "Memory": "64Gi", "SharedMemory": "32Gi", "GPU": "1",
                                         "GPUType": "Mystery-GPU"}
            inst["AcceleratorType"] = "GPU"
            inst["EcsSpec"] = ""
        elif k == 9:  # empty strings and empty objects
            inst["UserVpc"] = {}
            inst["EnvironmentVariables"] = {}
            inst["Labels"] = []
            inst["Tags"] = []
            inst["EcsSpec"] = ""


# A pooled value is replaced by "\u0000P<n>" before encoding, then by its cached JSON text.
MIGRATION_OPTIONS = {"Enable": True, "Strategy": "Auto", "TargetZones": ["cn-hangzhou-h", "cn-hangzhou-k"]}
_PH_RE = re.compile(rb'"\\u0000P(\d+)"')
_POOLED_KEYS = ("Datasets", "UserVpc", "LatestSnapshot", "InstanceSnapshotList", "CloudDisks",
                "CredentialConfig", "ServiceConfig", "MigrationOptions", "Labels", "Tags",
                "EnvironmentVariables")


def _dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _alnum(rng, n, chars="abcdefghijklmnopqrstuvwxyz0123456789"):
    return "".join(rng.choices(chars, k=n))


def _cumulative(weights):
    total = float(sum(weights))
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc / total)
    return out


def _pick(cum, x):
    for idx, c in enumerate(cum):
        if x < c:
            return idx
    return len(cum) - 1


def generate(n, seed=1):
    """n instances for seed, deterministically (same n and seed -> same list)."""
    g = Generator(seed)
    return [g.make(i) for i in range(n)]


if __name__ == "__main__":
    import sys
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    json.dump({"Instances": generate(count, int(sys.argv[2]) if len(sys.argv) > 2 else 1)}, sys.stdout,
              ensure_ascii=False, indent=1)
