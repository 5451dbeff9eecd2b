package sweep

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
)

func macs(t *testing.T, m map[netip.Addr]net.HardwareAddr) map[string]string {
	t.Helper()
	out := map[string]string{}
	for a, mac := range m {
		out[a.String()] = mac.String()
	}
	return out
}

func sameMap(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestParseArpAn(t *testing.T) {
	b, err := os.ReadFile("testdata/arp-an-macos.txt")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseArpAn(b)
	if err != nil {
		t.Fatal(err)
	}
	// Incomplete, broadcast, multicast, all-zero and malformed entries
	// name no host.
	sameMap(t, macs(t, m), map[string]string{
		"192.168.1.1":  "00:1b:21:3a:4f:05",
		"192.168.1.20": "a4:83:e7:12:ab:cd",
		"192.168.1.30": "3c:22:fb:01:02:03",
	})
}

func TestParseProcNetARP(t *testing.T) {
	b := []byte(`IP address       HW type     Flags       HW address            Mask     Device
198.18.1.1       0x1         0x2         02:aa:00:00:00:01     *        eth0
198.18.1.9       0x1         0x0         00:00:00:00:00:00     *        eth0
198.18.1.10      0x1         0x6         02:aa:00:00:00:0a     *        eth0
198.18.1.11      0x1         0x2         zz:aa:00:00:00:0a     *        eth0
`)
	m, err := parseProcNetARP(b)
	if err != nil {
		t.Fatal(err)
	}
	sameMap(t, macs(t, m), map[string]string{"198.18.1.1": "02:aa:00:00:00:01", "198.18.1.10": "02:aa:00:00:00:0a"})
	if _, err := parseProcNetARP([]byte("nonsense\n")); err == nil {
		t.Error("a file without the header parsed")
	}
}

// ipNetTable builds a MIB_IPNETTABLE the way GetIpNetTable fills it.
func ipNetTable(rows ...[3]any) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(rows)))
	for i, r := range rows {
		mac, _ := net.ParseMAC(r[1].(string))
		var row [ipNetRowSize]byte
		binary.LittleEndian.PutUint32(row[0:], uint32(i+1))
		binary.LittleEndian.PutUint32(row[4:], uint32(len(mac)))
		copy(row[8:16], mac)
		a := netip.MustParseAddr(r[0].(string)).As4()
		copy(row[16:20], a[:])
		binary.LittleEndian.PutUint32(row[20:], r[2].(uint32))
		b = append(b, row[:]...)
	}
	return b
}

func TestParseIPNetTable(t *testing.T) {
	b := ipNetTable(
		[3]any{"10.1.2.1", "00:1b:21:3a:4f:05", uint32(ipNetTypeDynamic)},
		[3]any{"10.1.2.2", "00:1b:21:3a:4f:06", uint32(ipNetTypeStatic)},
		[3]any{"10.1.2.3", "00:1b:21:3a:4f:07", uint32(2)}, // invalid
		[3]any{"10.1.2.255", "ff:ff:ff:ff:ff:ff", uint32(ipNetTypeStatic)},
		[3]any{"224.0.0.22", "01:00:5e:00:00:16", uint32(ipNetTypeStatic)},
	)
	m, err := parseIPNetTable(b)
	if err != nil {
		t.Fatal(err)
	}
	sameMap(t, macs(t, m), map[string]string{"10.1.2.1": "00:1b:21:3a:4f:05", "10.1.2.2": "00:1b:21:3a:4f:06"})
	for _, bad := range [][]byte{nil, {1, 0}, b[:len(b)-1], binary.LittleEndian.AppendUint32(nil, 1<<31)} {
		if _, err := parseIPNetTable(bad); err == nil {
			t.Errorf("parseIPNetTable(% x…) accepted a short table", bad[:min(len(bad), 8)])
		}
	}
}

func FuzzNeighbourTables(f *testing.F) {
	if b, err := os.ReadFile("testdata/arp-an-macos.txt"); err == nil {
		f.Add(b)
	}
	f.Add(ipNetTable([3]any{"10.1.2.1", "00:1b:21:3a:4f:05", uint32(ipNetTypeDynamic)}))
	f.Add([]byte("IP address HW type Flags HW address Mask Device\n1.2.3.4 0x1 0x2 00:11:22:33:44:55 * eth0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (map[netip.Addr]net.HardwareAddr, error){parseArpAn, parseProcNetARP, parseIPNetTable} {
			m, err := parse(b)
			if err != nil {
				continue
			}
			for a, mac := range m {
				if !a.Is4() || !usableMAC(mac) {
					t.Fatalf("entry %v → %v is not a host", a, mac)
				}
			}
		}
	})
}
