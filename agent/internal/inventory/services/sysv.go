package services

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// notServices are files of /etc/init.d that are not services.
var notServices = map[string]bool{"README": true, "skeleton": true, "rc": true, "rcS": true, "functions": true, ".depend.boot": true, ".depend.start": true, ".depend.stop": true}

// SysV lists the scripts of /etc/init.d under root that no systemd unit in
// have replaces (have holds unit names such as "ssh.service"): as systemd's
// sysv generator does, a script stands for a service only where no unit of
// its name exists. A script is auto when an S link in /etc/rc2.d to
// /etc/rc5.d starts it, manual otherwise; its state is not known without
// running it, so it is left empty.
func SysV(root fs.FS, have map[string]bool) ([]wire.Service, []error) {
	entries, err := fs.ReadDir(root, "etc/init.d")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{source.Wrap(SourceSysV, err)}
	}
	started := map[string]bool{}
	for _, rc := range []string{"etc/rc2.d", "etc/rc3.d", "etc/rc4.d", "etc/rc5.d"} {
		links, _ := fs.ReadDir(root, rc)
		for _, l := range links {
			n := l.Name()
			if len(n) > 3 && n[0] == 'S' {
				started[n[3:]] = true
			}
		}
	}
	var out []wire.Service
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || notServices[name] || strings.Contains(name, ".dpkg-") || strings.HasSuffix(name, "~") {
			continue
		}
		base := strings.TrimSuffix(name, ".sh")
		if have[base+".service"] || have[name+".service"] {
			continue
		}
		s := wire.Service{Name: name, Manager: "sysv", Path: "/" + path.Join("etc/init.d", name), StartMode: ModeManual}
		if started[name] {
			s.StartMode = ModeAuto
		}
		if data, err := readLimited(root, path.Join("etc/init.d", name), 16<<10); err == nil {
			s.DisplayName = lsbDescription(data)
		}
		out = append(out, s)
	}
	return out, nil
}

// lsbDescription returns the Short-Description of a script's LSB header.
func lsbDescription(script []byte) string {
	in := false
	for l := range strings.Lines(string(script)) {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "### BEGIN INIT INFO"):
			in = true
		case strings.HasPrefix(l, "### END INIT INFO"):
			return ""
		case in:
			if d, ok := strings.CutPrefix(strings.TrimLeft(l, "# \t"), "Short-Description:"); ok {
				return strings.TrimSpace(d)
			}
		}
	}
	return ""
}
