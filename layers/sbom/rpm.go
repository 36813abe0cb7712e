package sbom

import (
	"fmt"
	"strings"
)

// QueryFormat is the rpm --queryformat that ParseRPMQuery reads: one line
// per package, tab-separated.
const QueryFormat = `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{LICENSE}\t%{SOURCERPM}\t%{VENDOR}\t%{PACKAGER}\n`

// ParseRPMQuery reads the output of rpm -qa --queryformat QueryFormat,
// with rpm's "(none)" read as empty. gpg-pubkey entries (keys imported
// into the database, not packages) are left out.
func ParseRPMQuery(out []byte) ([]RPM, error) {
	var list []RPM
	for i, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			return nil, fmt.Errorf("rpm query line %d: %d fields, want 9: %q", i+1, len(f), line)
		}
		for j := range f {
			if f[j] == "(none)" {
				f[j] = ""
			}
		}
		if f[0] == "gpg-pubkey" {
			continue
		}
		list = append(list, RPM{Name: f[0], Epoch: f[1], Version: f[2], Release: f[3], Arch: f[4], License: f[5], SourceRPM: f[6], Vendor: f[7], Packager: f[8]})
	}
	return list, nil
}
