# bash completion for pvmctl(1)
# SPDX-License-Identifier: MIT

_pvmctl_names()
{
	# names from the controller, quietly; nothing when it is unreachable
	pvmctl "$1" list --no-color --timeout 3 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_pvmctl()
{
	local cur prev words cword
	# bash-completion's helper when installed; the plain variables otherwise
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	local global="--addr --token --cacert --config --output -o --timeout --no-color --verbose -v --help"
	local spec="--file -f --image --kind --platform --vcpus --memory -m --disk --cmdline --require
		--prefer --emulated --label -l --selector --anti-affinity --restart"
	local hooks="console block clock agent halt"

	case $prev in
	--output | -o)
		COMPREPLY=($(compgen -W "table wide json" -- "$cur"))
		return
		;;
	--cacert | --config | --file | -f)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--kind)
		COMPREPLY=($(compgen -W "microguest linux libvirt" -- "$cur"))
		return
		;;
	--platform)
		COMPREPLY=($(compgen -W "kvm process" -- "$cur"))
		return
		;;
	--restart)
		COMPREPLY=($(compgen -W "never on-failure always" -- "$cur"))
		return
		;;
	--role | -r)
		COMPREPLY=($(compgen -W "admin operator reader host" -- "$cur"))
		return
		;;
	--ttl) # examples of the DURATION forms (s, m, h, d)
		COMPREPLY=($(compgen -W "15m 1h 12h 7d 30d 90d" -- "$cur"))
		return
		;;
	--require | --prefer)
		COMPREPLY=($(compgen -W "$hooks" -- "$cur"))
		return
		;;
	--image)
		COMPREPLY=($(compgen -W "$(_pvmctl_names image)" -- "$cur"))
		return
		;;
	--addr | --token | --timeout | --vcpus | --memory | -m | --disk | --cmdline | --label | -l | \
		--selector | --anti-affinity | --wait-timeout | --since | --max-moves | --host | \
		--format | --source | --size | --sha256)
		return
		;;
	esac

	# the command words typed so far, options skipped
	local i cmd="" sub=""
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--addr | --token | --cacert | --config | --output | -o | --timeout)
			((i++)) # the option's value is not a command word
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]}
			elif [[ -z $sub ]]; then
				sub=${words[i]}
			fi
			;;
		esac
	done

	local opts=""
	case $cmd in
	"")
		COMPREPLY=($(compgen -W "host guest image token events rebalance version $global" \
			-- "$cur"))
		return
		;;
	host)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "list show cordon uncordon drain rm" \
			-- "$cur")); return; }
		;;
	guest)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W \
			"create list show start stop rm stats explain" -- "$cur")); return; }
		case $sub in
		create) opts="$spec --wait -w --wait-timeout" ;;
		explain) opts="$spec" ;;
		list) opts="--host" ;;
		esac
		;;
	image)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "create list show rm" -- "$cur")); return; }
		[[ $sub == create ]] && opts="--format --source --size --sha256"
		;;
	token)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "create list revoke" -- "$cur")); return; }
		[[ $sub == create ]] && opts="--role -r --ttl"
		;;
	events) opts="--follow -f --since" ;;
	rebalance) opts="--apply --max-moves" ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
		return
	fi
	case $cmd/$sub in
	host/show | host/cordon | host/uncordon | host/drain | host/rm)
		COMPREPLY=($(compgen -W "$(_pvmctl_names host)" -- "$cur")) ;;
	guest/show | guest/start | guest/stop | guest/rm | guest/stats | guest/explain)
		COMPREPLY=($(compgen -W "$(_pvmctl_names guest)" -- "$cur")) ;;
	image/show | image/rm)
		COMPREPLY=($(compgen -W "$(_pvmctl_names image)" -- "$cur")) ;;
	token/revoke)
		# the list's first column is the id; names are in the second
		COMPREPLY=($(compgen -W "$(pvmctl token list --no-color --timeout 3 2>/dev/null |
			awk 'NR > 1 { print $2 }')" -- "$cur")) ;;
	esac
}
complete -F _pvmctl pvmctl
