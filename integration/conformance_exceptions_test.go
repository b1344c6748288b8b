package integration

import "regexp"

// The runtime-tools validations TestConformance does not run, and why. Each is one that
// neither runtime can pass on this host, so running it would measure nothing.
var conformanceSkipped = map[string]string{
	"linux_cgroups_blkio":            "the host's blkio controller has no weight files (no BFQ): runc fails create; runuml applies no block I/O limits",
	"linux_cgroups_relative_blkio":   "as linux_cgroups_blkio",
	"linux_cgroups_hugetlb":          "no hugetlb controller on this host: runc fails create; runuml applies no hugetlb limits",
	"linux_cgroups_relative_hugetlb": "as linux_cgroups_hugetlb",
	"linux_cgroups_network":          "net_cls/net_prio are not mounted on this host: runc fails create; runuml applies no network limits",
	"linux_cgroups_relative_network": "as linux_cgroups_network",
	"linux_cgroups_pids":             "the validation compares two pointers (it prints addresses), so it fails under every runtime",
	"linux_cgroups_relative_pids":    "as linux_cgroups_pids",
	"pidfile":                        "a race: it kills a container whose process is `true` and passes only if the kill comes first, under runc and runuml alike",
}

// conformanceException is a runtime-tools assertion that passes under runc but not under
// runuml, with the reason. cannot: a UML guest cannot honour it (or honouring it on the host
// would not mean what the spec means); todo: runuml could, and does not yet.
type conformanceException struct {
	validation string
	assertion  *regexp.Regexp // the TAP description
	todo       bool
	reason     string
}

// conformanceExceptions is the one list of them; README's Conformance section copies it.
var conformanceExceptions = []conformanceException{
	{"linux_cgroups_memory", regexp.MustCompile(`^memory (limit|reservation|swap) is set correctly$`), false,
		"the host group allows the guest's RAM plus 64 MiB: the RAM is a tmpfs file charged to the group and UML needs memory of its own; the limit itself is the guest's RAM, enforced by the guest kernel"},
	{"linux_cgroups_relative_memory", regexp.MustCompile(`^memory (limit|reservation|swap) is set correctly$`), false,
		"as linux_cgroups_memory"},
	{"linux_cgroups_memory", regexp.MustCompile(`^memory oom is set correctly$`), false,
		"disableOOMKiller is not set on the host group: the guest kernel's OOM killer acts within the guest's RAM; disabling the host's would freeze the whole guest at the host limit"},
	{"linux_cgroups_relative_memory", regexp.MustCompile(`^memory oom is set correctly$`), false,
		"as linux_cgroups_memory"},
	{"linux_ns_itype", regexp.MustCompile(`^inherit namespace \w+ without type$`), false,
		"a spec without a network namespace is refused (the guest has its own network stack and cannot share the host's), and the guest's namespaces are never the host's"},
	{"linux_ns_nopath", regexp.MustCompile(`^create namespace (cgroup|ipc|mnt|pid|user|uts) without path$`), false,
		"the container's namespaces are made by the guest kernel; the container's pid is the host monitor, which is in the host's namespaces but the network one"},
	{"linux_ns_path", regexp.MustCompile(`^set (ipc|mnt|pid|uts) namespace by path$`), false,
		"a host namespace cannot be joined by a process of the guest kernel; only the network namespace (the monitor's) is joined"},
}

// findConformanceException returns the exception that covers an assertion, if any. A
// repeated assertion's " (#N)" is not part of its description.
func findConformanceException(validation, assertion string) *conformanceException {
	assertion = repeated.ReplaceAllString(assertion, "")
	for i, x := range conformanceExceptions {
		if x.validation == validation && x.assertion.MatchString(assertion) {
			return &conformanceExceptions[i]
		}
	}
	return nil
}

var repeated = regexp.MustCompile(` \(#\d+\)$`)
