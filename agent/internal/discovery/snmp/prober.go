// Package snmp reads network devices over SNMP (v1, v2c, v3): the system
// group, interfaces and their MACs, a router's ARP table, a switch's
// forwarding tables per VLAN, LLDP neighbours, ENTITY-MIB models and
// serials, HOST-RESOURCES. It tries a list of credentials per device and
// remembers the one that worked. Every walk is bounded in records and time,
// and a device that returns non-increasing OIDs or garbage costs only
// itself. Decode and Observations turn what was read into wire
// observations without I/O.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/identify"
)

// Options configure a Prober. Zero fields take the defaults.
type Options struct {
	// Credentials are tried on every device; the one that worked last
	// time (from Store) is tried first.
	Credentials []Credential
	Store       Store
	Port        uint16        // 161
	Timeout     time.Duration // per request: 1s
	Retries     int           // per request: 1
	// MaxRepetitions of a GETBULK: 25.
	MaxRepetitions uint32
	// MaxWalkRecords bounds the records one subtree may return: 20,000.
	MaxWalkRecords int
	// WalkTimeout bounds one walk (the subtrees of a group, read side by
	// side): 10s. HostTimeout bounds everything done with one device:
	// 60s.
	WalkTimeout, HostTimeout time.Duration
	// Concurrency is how many devices are read at once: 16.
	Concurrency int
	// MaxVLANs bounds the VLANs whose forwarding table is read one by one
	// (Cisco community@vlan): 64.
	MaxVLANs int
}

// Prober reads devices over SNMP. It is safe for concurrent use.
type Prober struct {
	o Options
}

// New returns a prober.
func New(o Options) *Prober {
	if o.Store == nil {
		o.Store = NewMemoryStore()
	}
	if o.Port == 0 {
		o.Port = 161
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 1
	}
	if o.MaxRepetitions == 0 {
		o.MaxRepetitions = 25
	}
	if o.MaxWalkRecords <= 0 {
		o.MaxWalkRecords = 20000
	}
	if o.WalkTimeout <= 0 {
		o.WalkTimeout = 10 * time.Second
	}
	if o.HostTimeout <= 0 {
		o.HostTimeout = 60 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.MaxVLANs <= 0 {
		o.MaxVLANs = 64
	}
	return &Prober{o: o}
}

// credentialStagger is how long the first credential tried on a device
// is tried alone.
const credentialStagger = 150 * time.Millisecond

// maxFailedWalks is how many walks in a row may fail before the rest of
// a device is given up.
const maxFailedWalks = 3

// ErrNoAnswer means no credential got an answer from the device.
var ErrNoAnswer = errors.New("no SNMP answer")

// Errors that bound a walk.
var (
	errWalkLimit     = errors.New("walk exceeded its record limit")
	errNotIncreasing = errors.New("device returned a non-increasing OID")
)

// Probe reads one device.
func (p *Prober) Probe(ctx context.Context, addr netip.Addr) (*Device, error) {
	recs, cred, errs, err := p.Collect(ctx, addr)
	if err != nil {
		return nil, err
	}
	d := Decode(addr, recs)
	d.Credential = cred.String()
	d.Errors = errs
	return d, nil
}

// Result is the outcome of probing one address.
type Result struct {
	Addr   netip.Addr
	Device *Device // nil when the device did not answer
	Err    error   // ErrNoAnswer or why reading failed
}

// ProbeAll reads every address, Concurrency at a time, and returns the
// results in the order of addrs. It returns when ctx is done, leaving
// nothing running.
func (p *Prober) ProbeAll(ctx context.Context, addrs []netip.Addr) []Result {
	return p.ProbeEach(ctx, addrs, nil)
}

// ProbeEach is ProbeAll that also hands each address's result to each, if
// not nil, as soon as that address is done. The calls come from the
// probing goroutines but never overlap, and all of them happen before
// ProbeEach returns. Addresses skipped because ctx is done get no call.
func (p *Prober) ProbeEach(ctx context.Context, addrs []netip.Addr, each func(Result)) []Result {
	var eachMu sync.Mutex
	out := make([]Result, len(addrs))
	sem := make(chan struct{}, p.o.Concurrency)
	var wg sync.WaitGroup
	for i, a := range addrs {
		out[i].Addr = a
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].Err = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i].Device, out[i].Err = p.Probe(ctx, a)
			if each != nil {
				eachMu.Lock()
				defer eachMu.Unlock()
				each(out[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// Collect finds a credential that works on addr and walks the device's
// tables. It returns the records read, the credential, and the tables
// that could not be read completely.
func (p *Prober) Collect(ctx context.Context, addr netip.Addr) ([]Record, Credential, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.HostTimeout)
	defer cancel()
	s, cred, recs, err := p.login(ctx, addr)
	if err != nil {
		return nil, Credential{}, nil, err
	}
	defer s.close()
	var errs []string
	cisco := false
	if n, _, ok := identify.Enterprise(sysObjectID(recs)); ok && n == 9 {
		cisco = true
	}
	failed := 0 // walks in a row that failed
	for _, g := range walkGroups {
		if g.cisco && !cisco {
			continue
		}
		// The columns of a group are read side by side, a few rows of
		// each per request.
		werrs, _ := walkRoots(ctx, p, []*session{s}, g.oids, 0, false, appendRecord, gather(&recs))
		for i, err := range werrs {
			if err == nil {
				failed = 0
				continue
			}
			errs = append(errs, fmt.Sprintf("%s %s: %v", g.name, g.oids[i], err))
			failed++
			switch {
			case ctx.Err() != nil, errors.Is(err, gosnmp.ErrMaxRetriesExceeded):
				// Out of time, or the device stopped answering: the rest
				// would only wait too.
				return recs, cred, errs, nil
			case failed >= maxFailedWalks:
				errs = append(errs, fmt.Sprintf("gave up after %d failed walks in a row", failed))
				return recs, cred, errs, nil
			}
		}
	}
	// Cisco keeps one BRIDGE-MIB per VLAN, read with community@vlan or
	// the SNMPv3 context vlan-N.
	if cisco {
		for _, vlan := range vlans(recs, p.o.MaxVLANs) {
			vs, err := s.forVLAN(ctx, vlan)
			if err != nil {
				errs = append(errs, fmt.Sprintf("vlan %d: %v", vlan, err))
				continue
			}
			werrs, _ := walkRoots(ctx, p, []*session{vs}, vlanOIDs, vlan, false, appendRecord, gather(&recs))
			if err := errors.Join(werrs...); err != nil {
				errs = append(errs, fmt.Sprintf("vlan %d: %v", vlan, err))
			}
			if vs != s {
				vs.close()
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	return recs, cred, errs, nil
}

func sysObjectID(recs []Record) string {
	for _, r := range recs {
		if strings.TrimPrefix(r.PDU.Name, ".") == oidSysObjectID {
			return valueOID(r.PDU)
		}
	}
	return ""
}

// vlans returns the operational VLANs of vtpVlanState, without the
// reserved 1002–1005.
func vlans(recs []Record, limit int) []int {
	var out []int
	for _, r := range recs {
		ix := index(r.PDU.Name, oidVtpVlanState)
		if len(ix) != 2 || valueIntOr0(r.PDU) != 1 {
			continue
		}
		if v := ix[1]; v >= 1 && v <= 4094 && (v < 1002 || v > 1005) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// session is one connected gosnmp client.
type session struct {
	g    *gosnmp.GoSNMP
	cred Credential
	stop func() bool
}

func (p *Prober) dial(ctx context.Context, addr netip.Addr, c Credential) (*session, error) {
	g := &gosnmp.GoSNMP{
		Target:         addr.String(),
		Port:           p.o.Port,
		Transport:      "udp",
		Timeout:        p.o.Timeout,
		Retries:        p.o.Retries,
		MaxRepetitions: p.o.MaxRepetitions,
		Context:        ctx,
		MaxOids:        len(systemOIDs),
	}
	c.apply(g)
	if err := g.Connect(); err != nil {
		return nil, err
	}
	// gosnmp waits for a request's deadline; cancelling ctx ends the wait
	// at once.
	conn := g.Conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	return &session{g: g, cred: c, stop: stop}, nil
}

func (s *session) close() {
	s.stop()
	s.g.Conn.Close()
}

// forVLAN returns a session reading VLAN vlan's context.
func (s *session) forVLAN(ctx context.Context, vlan int) (*session, error) {
	if s.cred.Version == V3 {
		s.g.ContextName = "vlan-" + strconv.Itoa(vlan)
		return s, nil
	}
	c := s.cred
	c.Community = Secret(c.Community.reveal() + "@" + strconv.Itoa(vlan))
	addr, _ := netip.ParseAddr(s.g.Target)
	p := &Prober{o: Options{Port: s.g.Port, Timeout: s.g.Timeout, Retries: s.g.Retries, MaxRepetitions: s.g.MaxRepetitions}}
	return p.dial(ctx, addr, c)
}

// login tries the remembered credential, then all others at once, and
// returns a session with the first that answers, and the system group.
func (p *Prober) login(ctx context.Context, addr netip.Addr) (*session, Credential, []Record, error) {
	creds := p.o.Credentials
	if c, ok := p.o.Store.Get(addr); ok {
		s, recs, err := p.try(ctx, addr, c)
		if err == nil {
			return s, c, recs, nil
		}
		if errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
			return nil, Credential{}, nil, fmt.Errorf("snmp %s: %w", addr, ErrNoAnswer)
		}
		creds = slices.DeleteFunc(slices.Clone(creds), func(o Credential) bool { return o == c })
	}
	if len(creds) == 0 {
		return nil, Credential{}, nil, fmt.Errorf("snmp %s: no credentials: %w", addr, ErrNoAnswer)
	}
	type answer struct {
		i    int
		s    *session
		recs []Record
		err  error
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan answer, len(creds))
	start := func(i int) {
		go func() {
			s, recs, err := p.try(tctx, addr, creds[i])
			ch <- answer{i, s, recs, err}
		}()
	}
	// The first credential is tried alone for a moment: most addresses
	// answer it or refuse at once (no agent), and each try holds a
	// socket and gosnmp's 64 KB receive buffer. The others start when it
	// fails, or when it has not answered within credentialStagger.
	start(0)
	started := 1
	stagger := time.NewTimer(credentialStagger)
	defer stagger.Stop()
	var win *answer
	var lastErr error
	for got := 0; got < started; {
		var a answer
		select {
		case a = <-ch:
		case <-stagger.C:
			for ; started < len(creds) && tctx.Err() == nil; started++ {
				start(started)
			}
			continue
		}
		got++
		switch {
		case a.err != nil:
			if lastErr == nil || !errors.Is(a.err, context.Canceled) {
				lastErr = a.err
			}
			if errors.Is(a.err, syscall.ECONNREFUSED) {
				cancel() // nothing listens: the others will not do better
			}
		case win == nil:
			win = &a
			cancel()
		default:
			a.s.close()
		}
		if a.i == 0 && win == nil && tctx.Err() == nil {
			for ; started < len(creds); started++ {
				start(started)
			}
		}
	}
	if win == nil {
		if ctx.Err() != nil {
			return nil, Credential{}, nil, ctx.Err()
		}
		return nil, Credential{}, nil, fmt.Errorf("snmp %s: %w (last error: %v)", addr, ErrNoAnswer, lastErr)
	}
	c := creds[win.i]
	p.o.Store.Put(addr, c)
	// The winner's session was made with the cancelled context: rebind it.
	win.s.stop()
	conn := win.s.g.Conn
	win.s.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	win.s.g.Context = ctx
	return win.s, c, win.recs, nil
}

// try logs in with c and reads the system group.
func (p *Prober) try(ctx context.Context, addr netip.Addr, c Credential) (*session, []Record, error) {
	s, err := p.dial(ctx, addr, c)
	if err != nil {
		return nil, nil, err
	}
	s.g.Context = ctx
	res, err := s.g.Get(systemOIDs)
	if err == nil && res.Error != gosnmp.NoError {
		// v1 fails the whole request when one OID is missing: walk instead.
		var recs []Record
		recs, err = p.walk(ctx, s, oidSystem, 0)
		if err == nil && len(recs) > 0 {
			return s, recs, nil
		}
		if err == nil {
			err = fmt.Errorf("error status %v", res.Error)
		}
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	var recs []Record
	for _, v := range res.Variables {
		if v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance || v.Type == gosnmp.Null {
			continue
		}
		recs = append(recs, Record{PDU: v})
	}
	if len(recs) == 0 {
		s.close()
		return nil, nil, errors.New("the system group is empty")
	}
	return s, recs, nil
}

func parseOID(s string) ([]uint32, bool) {
	return parseOIDInto(nil, s)
}

func compareOID(a, b []uint32) int {
	return slices.Compare(a, b)
}
