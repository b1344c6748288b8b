package dockerd

import (
	"os/exec"
	"slices"
	"strings"
)

// dockerChains are the chains dockerd makes, per table, and never removes.
var dockerChains = map[string][]string{
	"filter": {"DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"},
	"nat":    {"DOCKER"},
}

// iptablesState is what the host's iptables had before our dockerd started.
type iptablesState struct {
	saved   bool
	chains  map[string]bool // "table/chain" of docker's chains that existed
	forward string          // the filter FORWARD policy
	// nftTables are the tables that did not exist before on an nf_tables-backed iptables:
	// dockerd makes them, and they go once empty.
	nftTables []string
}

func saveIptablesState() iptablesState {
	s := iptablesState{chains: map[string]bool{}}
	for table := range dockerChains {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return s // no iptables: nothing to clean
		}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[0], ":") {
				s.chains[table+"/"+f[0][1:]] = true
				if table == "filter" && f[0] == ":FORWARD" {
					s.forward = f[1]
				}
			}
		}
	}
	if v, _ := exec.Command("iptables", "--version").Output(); strings.Contains(string(v), "nf_tables") {
		for table := range dockerChains {
			if exec.Command("nft", "list", "table", "ip", table).Run() != nil {
				s.nftTables = append(s.nftTables, table)
			}
		}
	}
	s.saved = true
	return s
}

// cleanup removes, once our dockerd is gone, the rules it left for its bridge and address
// ranges; and, unless another dockerd runs, docker's chains it made that were not there
// before, and the FORWARD policy it may have changed. dockerd removes none of them on stop.
func (s iptablesState) cleanup(bridge string, ranges ...string) {
	if !s.saved {
		return
	}
	ours := func(rule []string) bool {
		for _, w := range rule {
			if w == bridge {
				return true
			}
			for _, r := range ranges {
				if strings.HasPrefix(w, strings.TrimSuffix(r, "0/24")) {
					return true
				}
			}
		}
		return false
	}
	removeChains := !otherDockerd(0) // ours is gone by now
	for table, chains := range dockerChains {
		var made []string
		for _, c := range chains {
			if !s.chains[table+"/"+c] {
				made = append(made, c)
			}
		}
		if !removeChains {
			made = nil
		}
		for _, rule := range rules(table) {
			jump := len(rule) > 1 && rule[len(rule)-2] == "-j" && slices.Contains(made, rule[len(rule)-1]) && !slices.Contains(made, rule[0])
			if ours(rule) || jump {
				exec.Command("iptables", append([]string{"-t", table, "-D"}, rule...)...).Run()
			}
		}
		for _, c := range made {
			exec.Command("iptables", "-t", table, "-F", c).Run()
		}
		for _, c := range made {
			exec.Command("iptables", "-t", table, "-X", c).Run()
		}
	}
	if s.forward != "" {
		exec.Command("iptables", "-P", "FORWARD", s.forward).Run()
	}
	for _, table := range s.nftTables {
		if removeChains && len(rules(table)) == 0 && len(chains(table)) == 0 {
			exec.Command("nft", "delete", "table", "ip", table).Run()
		}
	}
}

// builtin are the chains of the tables dockerd uses that iptables makes by itself.
var builtin = []string{"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}

// chains lists the chains of a table that are not built in.
func chains(table string) []string {
	out, _ := exec.Command("iptables-save", "-t", table).Output()
	var cs []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], ":") && !slices.Contains(builtin, f[0][1:]) {
			cs = append(cs, f[0][1:])
		}
	}
	return cs
}

// rules lists the rules of a table as iptables-save prints them, without the leading -A.
func rules(table string) [][]string {
	out, err := exec.Command("iptables-save", "-t", table).Output()
	if err != nil {
		return nil
	}
	var rs [][]string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rs = append(rs, splitQuoted(l[3:]))
		}
	}
	return rs
}

// splitQuoted splits an iptables-save rule into words; "quoted strings" are one word.
func splitQuoted(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, in := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quoted && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			quoted, in = !quoted, true
		case c == ' ' && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
