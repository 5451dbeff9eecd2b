package reconcile

import (
	"fmt"
	"testing"
	"time"
)

// office generates n devices: a third with agents (inventory with serial
// and MAC), the rest seen by ARP, each observed perDevice times.
func office(n, perDevice int) []Observation {
	obs := make([]Observation, 0, n*perDevice)
	for i := range n {
		mac := fmt.Sprintf("00:1b:%02x:%02x:%02x:%02x", (i>>24)&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		ip := fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		for j := range perDevice {
			o := Observation{Ref: fmt.Sprintf("r%d#%d", i, j), At: t0.Add(time.Duration(j) * time.Minute), Observer: "scanner", Method: "arp", MAC: mac, IP: ip}
			if i%3 == 0 && j == 0 {
				o = Observation{Ref: fmt.Sprintf("inventory:%d", i), At: t0, Observer: fmt.Sprint("agent-", i), Method: "self",
					AgentID: fmt.Sprint("agent-", i), Serial: fmt.Sprint("SN", i), HostID: fmt.Sprint("h", i), MACs: []string{mac}}
			}
			obs = append(obs, o)
		}
	}
	return obs
}

func BenchmarkResolve(b *testing.B) {
	for _, size := range []struct{ devices, per int }{{1000, 10}, {10000, 10}} {
		obs := office(size.devices, size.per)
		b.Run(fmt.Sprintf("%d-devices-%d-observations", size.devices, len(obs)), func(b *testing.B) {
			for b.Loop() {
				if ds := Resolve(obs, nil, nil); len(ds) != size.devices {
					b.Fatalf("%d devices, want %d", len(ds), size.devices)
				}
			}
		})
	}
}

func BenchmarkIncrementalApply(b *testing.B) {
	obs := fleet(3, 5000, 20)
	for b.Loop() {
		s := NewIncremental(nil)
		for i := 0; i < len(obs); i += 10_000 {
			s.Apply(obs[i:min(len(obs), i+10_000)])
			s.Changes()
		}
	}
	b.ReportMetric(float64(len(obs)), "observations/op")
}
