// Command umbra-loadgen simulates many agents posting inventory reports to
// an Umbra collector and prints ingest latency and throughput, to size a
// deployment or benchmark a collector:
//
//	umbra-loadgen --collector https://127.0.0.1:8443 --ca-file STATE/ca.pem \
//	    --secret-file secret --agents 1000 --reports-per-agent 1 --packages 200
//
// It enrols --agents agents with a multi-use enrolment secret (create one
// with `umbra enroll-secret create --max-uses N`), then each posts its
// reports. Only a collector on loopback is loaded unless --allow-remote.
// With --tsv FILE it instead writes the host_software rows such a run
// would store, as TSV, for a raw clickhouse-client baseline.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/umbrasec/umbra/collector/internal/loadgen"
)

func main() {
	var cfg loadgen.Config
	var caFile, secretFile, tsv string
	var asJSON bool
	flag.StringVar(&cfg.Collector, "collector", "", "collector base URL, https://127.0.0.1:PORT")
	flag.StringVar(&caFile, "ca-file", "", "the collector's CA certificate (PEM), STATE/ca.pem")
	flag.StringVar(&secretFile, "secret-file", "", "file holding a multi-use enrolment secret")
	flag.IntVar(&cfg.Agents, "agents", 100, "simulated agents")
	flag.IntVar(&cfg.ReportsPerAgent, "reports-per-agent", 1, "reports each agent posts, one after the other")
	flag.IntVar(&cfg.Packages, "packages", 200, "software packages in each report")
	flag.IntVar(&cfg.Concurrency, "concurrency", 0, "agents posting at once (default: all)")
	flag.IntVar(&cfg.EnrollConcurrency, "enroll-concurrency", 16, "agents enrolling at once (the collector serialises enrolments)")
	flag.StringVar(&cfg.StartFile, "start-file", "", "after enrolling, wait until this file exists before posting")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the simulated hosts and software")
	flag.BoolVar(&cfg.AllowRemote, "allow-remote", false, "permit a collector that is not on loopback")
	flag.BoolVar(&asJSON, "json", false, "print the figures as JSON")
	flag.StringVar(&tsv, "tsv", "", "write the host_software rows of such a run to this file as TSV and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if tsv != "" {
		f, err := os.Create(tsv)
		if err != nil {
			fail(err)
		}
		n, err := loadgen.WriteSoftwareTSV(f, cfg)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "umbra-loadgen: %d rows (%s) in %s\n", n, loadgen.SoftwareColumns, tsv)
		return
	}
	if caFile == "" || secretFile == "" || cfg.Collector == "" {
		fail(fmt.Errorf("--collector, --ca-file and --secret-file are required"))
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		fail(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(caPEM) {
		fail(fmt.Errorf("%s holds no PEM certificate", caFile))
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		fail(err)
	}
	cfg.Secret = strings.TrimSpace(string(secret))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := loadgen.Run(ctx, cfg, os.Stderr)
	if st != nil {
		if asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(st)
		} else {
			st.Print(os.Stdout)
		}
	}
	if err != nil {
		fail(err)
	}
	if st.Failed > 0 || st.Enrolled < st.Agents {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "umbra-loadgen:", err)
	os.Exit(2)
}
