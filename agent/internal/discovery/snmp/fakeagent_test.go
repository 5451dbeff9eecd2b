package snmp

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// fakeAgent is an SNMPv2c agent on loopback UDP that serves a small MIB,
// or misbehaves as its mode says.
type fakeAgent struct {
	conn *net.UDPConn
	mode string // ok, decreasing, loop, endless, garbage, silent-walks, first-only
	mib  []gosnmp.SnmpPDU
	// maxVars caps the variables of a GETBULK answer, as net-snmp's
	// maxGetbulkResponses (100) does; 0 for no cap.
	maxVars  int
	arcs     [][]uint32 // mib's OIDs, parsed
	requests atomic.Int64
	wg       sync.WaitGroup
}

func fakeMIB() []gosnmp.SnmpPDU {
	pdus := []gosnmp.SnmpPDU{
		{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("Fake Device 1.0")},
		{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.8072.3.2.10"},
		{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: []byte("fake")},
		{Name: ".1.3.6.1.2.1.1.7.0", Type: gosnmp.Integer, Value: 72},
		{Name: ".1.3.6.1.2.1.2.2.1.2.1", Type: gosnmp.OctetString, Value: []byte("eth0")},
		{Name: ".1.3.6.1.2.1.2.2.1.3.1", Type: gosnmp.Integer, Value: 6},
		{Name: ".1.3.6.1.2.1.2.2.1.6.1", Type: gosnmp.OctetString, Value: []byte{0, 0x1b, 0x21, 1, 2, 3}},
		{Name: ".1.3.6.1.2.1.4.22.1.2.1.10.0.0.9", Type: gosnmp.OctetString, Value: []byte{0, 0x1b, 0x21, 9, 9, 9}},
	}
	return pdus
}

func startFakeAgent(t *testing.T, ip string, port int, mode string) *fakeAgent {
	t.Helper()
	return startFakeAgentMIB(t, ip, port, mode, fakeMIB(), 0)
}

// startFakeAgentMIB starts a fake agent serving mib, sorted by OID.
func startFakeAgentMIB(t *testing.T, ip string, port int, mode string, mib []gosnmp.SnmpPDU, maxVars int) *fakeAgent {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
	if err != nil {
		t.Fatalf("listening on %s:%d: %v", ip, port, err)
	}
	a := &fakeAgent{conn: conn, mode: mode, mib: mib, maxVars: maxVars}
	for _, p := range mib {
		po, _ := parseOID(p.Name)
		a.arcs = append(a.arcs, po)
	}
	a.wg.Add(1)
	go a.serve()
	t.Cleanup(func() {
		conn.Close()
		a.wg.Wait()
	})
	return a
}

func (a *fakeAgent) port() int { return a.conn.LocalAddr().(*net.UDPAddr).Port }

func (a *fakeAgent) next(oid string) (gosnmp.SnmpPDU, bool) {
	po, _ := parseOID(oid)
	i, found := slices.BinarySearchFunc(a.arcs, po, compareOID)
	if found {
		i++
	}
	if i < len(a.mib) {
		return a.mib[i], true
	}
	return gosnmp.SnmpPDU{}, false
}

// nextFor answers a GETNEXT of oid as the agent's mode says; asked is
// the OID the request named, row the repetition.
func (a *fakeAgent) nextFor(oid, asked string, row int) gosnmp.SnmpPDU {
	switch a.mode {
	case "decreasing":
		// Increasing at first, then back before the request.
		if row%2 == 0 {
			return gosnmp.SnmpPDU{Name: asked + ".5", Type: gosnmp.Integer, Value: 1}
		}
		return gosnmp.SnmpPDU{Name: asked + ".3", Type: gosnmp.Integer, Value: 1}
	case "loop":
		return gosnmp.SnmpPDU{Name: asked + ".1", Type: gosnmp.Integer, Value: 1}
	case "endless":
		// Always one more row: the walk never ends by itself.
		arcs := strings.Split(oid, ".")
		if len(arcs) < 13 {
			return gosnmp.SnmpPDU{Name: oid + ".1", Type: gosnmp.Integer, Value: 1}
		}
		last, _ := strconv.Atoi(arcs[len(arcs)-1])
		return gosnmp.SnmpPDU{Name: strings.Join(arcs[:len(arcs)-1], ".") + "." + strconv.Itoa(last+1), Type: gosnmp.Integer, Value: 1}
	}
	if p, ok := a.next(oid); ok {
		return p
	}
	return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.EndOfMibView}
}

func (a *fakeAgent) serve() {
	defer a.wg.Done()
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	buf := make([]byte, 65535)
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(slices.Clone(buf[:n]))
		if err != nil || req.Community != "public" {
			continue
		}
		a.requests.Add(1)
		var vars []gosnmp.SnmpPDU
		walking := req.PDUType == gosnmp.GetBulkRequest || req.PDUType == gosnmp.GetNextRequest
		if walking {
			switch a.mode {
			case "garbage":
				junk := make([]byte, 200)
				rand.Read(junk)
				a.conn.WriteToUDP(junk, from)
				continue
			case "silent-walks":
				continue
			}
		}
		switch req.PDUType {
		case gosnmp.GetRequest:
			for _, v := range req.Variables {
				i := slices.IndexFunc(a.mib, func(p gosnmp.SnmpPDU) bool { return p.Name == v.Name })
				if i < 0 {
					vars = append(vars, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject})
				} else {
					vars = append(vars, a.mib[i])
				}
			}
		case gosnmp.GetNextRequest, gosnmp.GetBulkRequest:
			// RFC 3416 §4.2.3: the non-repeaters once, then each
			// repetition a row with one variable per repeater.
			reps, nonRep := 1, 0
			if req.PDUType == gosnmp.GetBulkRequest {
				reps = int(min(req.MaxRepetitions, 50))
				nonRep = min(int(req.NonRepeaters), len(req.Variables))
				if r := len(req.Variables) - nonRep; a.maxVars > 0 && r > 0 {
					reps = max(1, min(reps, (a.maxVars-nonRep)/r))
				}
			}
			cur := make([]string, len(req.Variables))
			for i, v := range req.Variables {
				cur[i] = v.Name
			}
			for i := range nonRep {
				p := a.nextFor(cur[i], req.Variables[i].Name, 0)
				vars = append(vars, p)
			}
			if a.mode == "first-only" && len(cur) > nonRep {
				// A broken agent that answers only its first repeater.
				cur = cur[:nonRep+1]
			}
			for row := range reps {
				end := true
				for i := nonRep; i < len(cur); i++ {
					p := a.nextFor(cur[i], req.Variables[i].Name, row)
					vars = append(vars, p)
					cur[i] = p.Name
					if p.Type != gosnmp.EndOfMibView {
						end = false
					}
				}
				if end {
					break
				}
			}
		default:
			continue
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Variables: vars}
		out, err := resp.MarshalMsg()
		if err != nil {
			continue
		}
		a.conn.WriteToUDP(out, from)
	}
}

// TestHostileAgents reads a well-behaved fake agent alongside agents that
// return decreasing OIDs, loop on one OID, never end, send garbage or
// stop answering: each bad one costs only itself, within its bounds, and
// the good one is read in full.
func TestHostileAgents(t *testing.T) {
	good := startFakeAgent(t, "127.0.0.1", 0, "ok")
	port := good.port()
	modes := []string{"decreasing", "loop", "endless", "garbage", "silent-walks"}
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for i, m := range modes {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
		startFakeAgent(t, ip.String(), port, m)
		addrs = append(addrs, ip)
	}
	// Also an address where nothing listens.
	addrs = append(addrs, netip.MustParseAddr("127.0.0.20"))

	before := runtime.NumGoroutine()
	p := New(Options{
		Credentials:    []Credential{Community("wrong"), Community("public")},
		Port:           uint16(port),
		Timeout:        100 * time.Millisecond,
		MaxWalkRecords: 500,
		WalkTimeout:    time.Second,
		HostTimeout:    4 * time.Second,
	})
	start := time.Now()
	res := p.ProbeAll(t.Context(), addrs)
	took := time.Since(start)
	t.Logf("probed %d fake agents in %v", len(addrs), took.Round(time.Millisecond))
	if took > 6*time.Second {
		t.Errorf("ProbeAll took %v; the hostile agents should be bounded by HostTimeout (4s)", took)
	}
	for i, r := range res {
		name := "ok"
		if i > 0 && i <= len(modes) {
			name = modes[i-1]
		} else if i > len(modes) {
			name = "nothing"
		}
		if name == "nothing" {
			if r.Device != nil || !errors.Is(r.Err, ErrNoAnswer) {
				t.Errorf("%s (nothing listening): device %v, err %v; want ErrNoAnswer", r.Addr, r.Device, r.Err)
			}
			continue
		}
		if r.Device == nil {
			t.Errorf("%s (%s): %v", r.Addr, name, r.Err)
			continue
		}
		d := r.Device
		t.Logf("%s (%s): %d interfaces, %d ARP, errors %d: %.200v", r.Addr, name, len(d.Interfaces), len(d.ARP), len(d.Errors), d.Errors)
		if d.System.Name != "fake" {
			t.Errorf("%s (%s): sysName %q", r.Addr, name, d.System.Name)
		}
		switch name {
		case "ok":
			if len(d.Errors) > 0 || len(d.ARP) != 1 || d.PrimaryMAC() != "00:1b:21:01:02:03" {
				t.Errorf("good agent: errors %v, ARP %v, MAC %q", d.Errors, d.ARP, d.PrimaryMAC())
			}
		default:
			if len(d.Errors) == 0 {
				t.Errorf("%s agent: no errors reported", name)
			}
		}
	}
	// Nothing is left running.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after ProbeAll, %d before", n, before)
	}
}

// TestProbeCancel cancels a probe of an agent that stops answering and
// expects it to return at once.
func TestProbeCancel(t *testing.T) {
	a := startFakeAgent(t, "127.0.0.1", 0, "silent-walks")
	p := New(Options{Credentials: []Credential{Community("public")}, Port: uint16(a.port()), Timeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	p.Probe(ctx, netip.MustParseAddr("127.0.0.1"))
	if took := time.Since(start); took > time.Second {
		t.Errorf("Probe returned %v after its context was cancelled", took-200*time.Millisecond)
	}
}
