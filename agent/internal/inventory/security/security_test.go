package security

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got *wire.Security) {
	t.Helper()
	inv := &wire.Inventory{CollectedAt: time.Now(), Host: wire.Host{Hostname: "h"}, Security: got}
	rep := wire.Report{Schema: wire.Schema, ID: "r1", Kind: wire.KindInventory, AgentID: "a1", CreatedAt: time.Now(), Inventory: inv}
	if err := rep.Validate(wire.DefaultLimits, time.Now()); err != nil {
		t.Errorf("posture does not validate: %v", err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs:\n got %s\nwant %s", file, b, want)
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLinux(t *testing.T) {
	root := os.DirFS("testdata/linux/root")
	sec := &wire.Security{Encryption: LinuxEncryption(root)}
	sec.Firewalls = append(sec.Firewalls, Nftables(read(t, "linux/nft-ruleset.txt")), Nftables(read(t, "linux/nft-empty.txt")))
	sec.Firewalls = append(sec.Firewalls, Iptables([]byte("filter\nnat\n"), read(t, "linux/iptables-save.txt")), Iptables([]byte("filter\n"), nil))
	sec.Firewalls = append(sec.Firewalls, ConfiguredFirewalls(root)...)
	now := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
	sec.Antivirus = LinuxAntivirus(root, ProcessNames(root), now)
	golden(t, "linux/expected.json", sec)
}

func TestWindows(t *testing.T) {
	var f struct {
		Volumes   []WinEncryptableVolume
		Antivirus []WinAntiVirusProduct
		Defender  WinDefenderStatus
		Firewall  []WinFirewallProfile
	}
	if err := json.Unmarshal(read(t, "windows/posture.json"), &f); err != nil {
		t.Fatal(err)
	}
	sec := &wire.Security{Encryption: FromBitLocker(f.Volumes), Firewalls: FromWindowsFirewall(f.Firewall),
		Antivirus: append(FromSecurityCenter(f.Antivirus), FromDefender(f.Defender))}
	golden(t, "windows/expected.json", sec)
}

func TestDarwin(t *testing.T) {
	sec := &wire.Security{}
	for _, name := range []string{"on", "off", "progress"} {
		v, ok := ParseFdesetup(read(t, "darwin/fdesetup-"+name+".txt"))
		if !ok {
			t.Fatalf("ParseFdesetup(%s) not understood", name)
		}
		sec.Encryption = append(sec.Encryption, v)
	}
	if _, ok := ParseFdesetup([]byte("Error: not root")); ok {
		t.Error("ParseFdesetup understood an error")
	}
	fw, ok := ALFPlist(read(t, "darwin/root/Library/Preferences/com.apple.alf.plist"))
	if !ok {
		t.Fatal("ALFPlist not understood")
	}
	fw2, ok := ParseSocketfilterfw(read(t, "darwin/socketfilterfw.txt"))
	if !ok {
		t.Fatal("ParseSocketfilterfw not understood")
	}
	sec.Firewalls = []wire.Firewall{fw, fw2}
	sec.Antivirus = MacAntivirus(os.DirFS("testdata/darwin/root"))
	golden(t, "darwin/expected.json", sec)
}

func TestCryptMethod(t *testing.T) {
	for in, want := range map[string]string{
		"CRYPT-LUKS2-abc-name": "luks2", "CRYPT-LUKS1-abc-x": "luks1", "CRYPT-PLAIN-x": "plain",
		"CRYPT-VERITY-x": "", "CRYPT-INTEGRITY-x": "", "LVM-x": "", "": "", "CRYPT-BITLK-x": "bitlocker",
	} {
		if got := cryptMethod(in); got != want {
			t.Errorf("cryptMethod(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNftables(f *testing.F) {
	f.Add([]byte("table ip t {\n chain c {\n type filter hook input priority 0; policy drop;\n }\n}\n"))
	f.Add([]byte("}\n}\n{\nchain {\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fw := Nftables(data)
		if !strings.HasPrefix(fw.Detail, "") || fw.Name != "nftables" {
			t.Fatal(fw)
		}
	})
}
