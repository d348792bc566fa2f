# dswfs(1) bash completion: options, -o keys, and filter keys and values in query paths.
#
# `dswfs --query PATH` completes PATH by the tree's grammar (instances/, workspaces/ID/, then
# KEY/VALUE/ pairs, with the enumerations of status/, payment-type/, ...), since filter keys
# are not listed by the filesystem. _dswfs_path does the same for paths inside a mount, for
# commands you choose, e.g. in ~/.bashrc:
#   source /usr/local/share/bash-completion/completions/dswfs
#   complete -o nospace -o default -F _dswfs_path ls cd cat
# The lists below are checked against fs/opts.c and fs/model/query.c by tests/integration/
# test_dist.py.

_dswfs_opts_value='endpoint= region= profile= ttl= grace= max_stale= page_size= workspace_id=
resource_id= connect_timeout= timeout= retries= parallel_pages= max_snapshots= max_walk_mb=
cache_max_mb= ecs_endpoint= ca_file= verbose= refresh_min_interval= wait_timeout= log_file=
setuid= fsname= subtype= events_max_kb= sts_endpoint= shared_cache= shared_cache_key=
shared_cache_password_file= shared_cache_user= shared_cache_timeout= shared_cache_lock_wait=
max_threads= max_idle_threads= regions= endpoint.'
_dswfs_opts_flag='prefetch noprime show_secrets ecs_role allow_core_dumps nonempty watch allow_other
allow_root auto_unmount clone_fd debug _netdev nofail noauto vpc'
_dswfs_long='--help --version --query= --profile --region'
_dswfs_keys='workspace-id instance-id instance-name resource-id status payment-type
accessibility accelerator-type gpu-type image-name create-user-id min-cpu max-cpu min-gpu
max-gpu min-memory max-memory min-gpu-memory max-gpu-memory create-time-after
create-time-before oversold-info oversold-type label tag'
_dswfs_enum_status='Creating SaveFailed Stopped Failed ResourceAllocating Stopping Updating
Saving Queuing Recovering Starting Running Saved Deleting EnvPreparing'
_dswfs_enum_payment_type='PayAsYouGo Subscription'
_dswfs_enum_accessibility='PRIVATE PUBLIC'
_dswfs_enum_accelerator_type='CPU GPU'

# Prints the completions of $1, a partial path relative to a mount's root, one per line: every
# candidate is $1's directory part followed by a key, a value or a top-level directory, ending
# in '/'. Values that must be typed (ids, names, numbers) give none.
_dswfs_query_words()
{
	local rel=$1 dir="" last c key="" used=" " i=0 n state=top w
	case $rel in */*) dir=${rel%/*}/ ;; esac
	last=${rel##*/}
	local -a comps=()
	[ -n "$dir" ] && IFS=/ read -r -a comps <<<"${dir%/}"
	n=${#comps[@]}
	# Walk the complete components: top, then a query directory, then key, value, key, ...
	while [ "$i" -lt "$n" ]; do
		c=${comps[i]}
		case $state in
		top)
			case $c in
			instances) state=query ;;
			workspaces) state=wsid used=" workspace-id " ;;
			*) return 0 ;;
			esac ;;
		wsid) state=query ;;
		query)
			case " $(echo $_dswfs_keys) " in *" $c "*) ;; *) return 0 ;; esac
			case $c in label|tag) ;; *) case $used in *" $c "*) return 0 ;; esac ;; esac
			key=$c; used="$used$c "; state=value ;;
		value) state=query ;;
		esac
		i=$((i + 1))
	done
	case $state in
	top) w='instances workspaces' ;;
	query)
		w=""
		for c in $_dswfs_keys; do
			case $c in label|tag) ;; *) case $used in *" $c "*) continue ;; esac ;; esac
			w="$w $c"
		done ;;
	value)
		c=_dswfs_enum_${key//-/_}
		w=${!c-} ;;
	*) w="" ;;
	esac
	for c in $w; do
		case $c in "$last"*) printf '%s\n' "$dir$c/" ;; esac
	done
}

# Sets COMPREPLY from whole-token candidates ($2...) for the token $1 being typed, trimmed to
# what readline replaces (the text after the last COMP_WORDBREAKS character, such as '=').
_dswfs_reply()
{
	local tok=$1 i c pre="" cand
	local -A seen=()
	shift
	for ((i = ${#tok} - 1; i >= 0; i--)); do
		c=${tok:i:1}
		if [[ $COMP_WORDBREAKS == *"$c"* ]]; then
			pre=${tok:0:i+1}
			break
		fi
	done
	COMPREPLY=()
	for cand in "$@"; do
		[[ $cand == "$tok"* && -z ${seen[$cand]-} ]] || continue
		seen[$cand]=1
		COMPREPLY+=("${cand#"$pre"}")
		case $cand in *=|*/) compopt -o nospace 2>/dev/null ;; esac
	done
}

_dswfs()
{
	local line=${COMP_LINE:0:COMP_POINT} tok before prev c head
	local -a cands=()
	tok=${line##*[[:space:]]}
	before=${line%"$tok"}
	before=${before%"${before##*[![:space:]]}"}
	prev=${before##*[[:space:]]}
	case $prev in
	-o)
		# Options are a comma list: complete the one after the last comma.
		head=""
		case $tok in *,*) head=${tok%,*}, ;; esac
		for c in $_dswfs_opts_value $_dswfs_opts_flag; do cands+=("$head$c"); done
		_dswfs_reply "$tok" "${cands[@]}"
		return 0 ;;
	--query)
		while IFS= read -r c; do cands+=("$c"); done < <(_dswfs_query_words "$tok")
		_dswfs_reply "$tok" "${cands[@]}"
		return 0 ;;
	--profile)
		[ -r "${ALIBABA_CLOUD_CONFIG_FILE:-$HOME/.aliyun/config.json}" ] &&
			while IFS= read -r c; do cands+=("$c"); done < <(sed -n \
				's/^[[:space:]]*"name":[[:space:]]*"\([^"]*\)".*/\1/p' \
				"${ALIBABA_CLOUD_CONFIG_FILE:-$HOME/.aliyun/config.json}")
		_dswfs_reply "$tok" "${cands[@]}"
		return 0 ;;
	--region) return 0 ;;
	esac
	case $tok in
	--query=*)
		while IFS= read -r c; do cands+=("--query=$c"); done \
			< <(_dswfs_query_words "${tok#--query=}")
		_dswfs_reply "$tok" "${cands[@]}" ;;
	--*) _dswfs_reply "$tok" $_dswfs_long ;;
	-*) _dswfs_reply "$tok" -f -d -s -o -h -V $_dswfs_long ;;
	*) COMPREPLY=() ;;	# the source or mount point: readline's file names (-o default)
	esac
	return 0
}

# Completes a path inside a dswfs mount with the filter keys and enumerated values the
# filesystem does not list, plus the entries it does. For `complete -F` on commands you choose.
_dswfs_path()
{
	local tok=${COMP_LINE:0:COMP_POINT} root dir c
	local -a cands=()
	tok=${tok##*[[:space:]]}
	dir=${tok%/*}
	[[ $tok == */* ]] || dir=.
	root=$dir
	# The mount's root is the nearest directory up from the typed one with .dswfs/version.
	while [ ! -e "$root/.dswfs/version" ]; do
		case $root in */*) root=${root%/*} ;; *) root=""; break ;; esac
		[ -n "$root" ] || break
	done
	if [ -n "$root" ] && [ -e "$root/.dswfs/version" ] && [[ $tok == "$root"/* ]]; then
		while IFS= read -r c; do cands+=("$root/$c"); done \
			< <(_dswfs_query_words "${tok#"$root"/}")
	fi
	while IFS= read -r c; do
		[ -d "$c" ] && c=$c/
		cands+=("$c")
	done < <(compgen -f -- "$tok")
	_dswfs_reply "$tok" "${cands[@]}"
	return 0
}

complete -o default -F _dswfs dswfs
