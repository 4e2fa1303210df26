// Package buildinfo reports the version of the onionbalance binaries.
package buildinfo

import "runtime/debug"

// version is set at link time: -ldflags "-X github.com/obcluster/obcluster/cmd/internal/buildinfo.version=v1.2.3".
var version = ""

// Version returns the link-time version, else the module version, else "devel" plus the VCS revision.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
