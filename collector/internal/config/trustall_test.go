package config

import (
	"bytes"
	"testing"
)

func TestScanTrustAllNetworks(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--scan-trust-all-networks"}, nil, true},
		{nil, map[string]string{"UMBRA_SCAN_TRUST_ALL_NETWORKS": "1"}, true},
		{nil, map[string]string{"UMBRA_SCAN_TRUST_ALL_NETWORKS": "yes"}, false},
		{[]string{"--scan-trust-all-networks=false"}, map[string]string{"UMBRA_SCAN_TRUST_ALL_NETWORKS": "1"}, false},
	} {
		var stderr bytes.Buffer
		cfg, err := Parse(c.args, func(k string) string { return c.env[k] }, &stderr)
		if err != nil {
			t.Fatalf("Parse(%v, %v): %v\n%s", c.args, c.env, err, stderr.String())
		}
		if cfg.Scan.TrustAllNetworks != c.want {
			t.Errorf("Parse(%v, %v).Scan.TrustAllNetworks = %v, want %v (agents must scan nowhere unless told)", c.args, c.env, cfg.Scan.TrustAllNetworks, c.want)
		}
	}
}
