// Command testhost plays a device of the simulated office network inside
// one network namespace: it accepts TCP connections on the given ports and
// announces DNS-SD services over multicast DNS. It is test tooling only,
// built by scripts/testnet.sh; it never leaves the namespace it runs in.
//
//	testhost -tcp 80,9100 -mdns '_ipp._tcp|Office Printer|631|ty=HP LaserJet,rp=ipp/print'
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/grandcat/zeroconf"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	tcp := flag.String("tcp", "", "comma-separated TCP ports to accept connections on")
	banner := flag.String("banner", "", "a line written to every TCP connection")
	host := flag.String("hostname", "", "mDNS host name (without .local)")
	iface := flag.String("iface", "eth0", "interface to announce on")
	var services multi
	flag.Var(&services, "mdns", "service to announce: TYPE|INSTANCE|PORT|k=v,k=v (repeatable)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	for _, p := range strings.Split(*tcp, ",") {
		if p == "" {
			continue
		}
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			log.Fatalf("listen %s: %v", p, err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if *banner != "" {
					fmt.Fprintln(c, *banner)
				}
				c.Close()
			}
		}()
	}

	ifi, err := net.InterfaceByName(*iface)
	if err != nil && len(services) > 0 {
		log.Fatalf("interface %s: %v", *iface, err)
	}
	for _, s := range services {
		parts := strings.SplitN(s, "|", 4)
		if len(parts) < 3 {
			log.Fatalf("bad -mdns %q", s)
		}
		port, err := strconv.Atoi(parts[2])
		if err != nil {
			log.Fatalf("bad port in -mdns %q", s)
		}
		var txt []string
		if len(parts) == 4 && parts[3] != "" {
			txt = strings.Split(parts[3], ",")
		}
		var srv *zeroconf.Server
		if *host != "" {
			var ips []string
			addrs, _ := ifi.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
					ips = append(ips, ipn.IP.String())
				}
			}
			srv, err = zeroconf.RegisterProxy(parts[1], parts[0], "local.", port, *host, ips, txt, []net.Interface{*ifi})
		} else {
			srv, err = zeroconf.Register(parts[1], parts[0], "local.", port, txt, []net.Interface{*ifi})
		}
		if err != nil {
			log.Fatalf("announcing %q: %v", s, err)
		}
		defer srv.Shutdown()
	}
	fmt.Fprintln(os.Stderr, "testhost: ready")
	<-ctx.Done()
}
