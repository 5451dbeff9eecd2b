package snmp

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gosnmp/gosnmp"
)

// maxRepeaters bounds the OIDs one GETBULK request asks for. Each is a
// cursor walking its own range, as net-snmp's snmptable asks for every
// column of a table at once: with the same max-repetitions a table of C
// columns takes about C times fewer requests than walking it column
// after column, and an agent that caps its responses (net-snmp: 100
// variables) fills each of them. An agent that cannot hold a response
// that large returns fewer rows (RFC 3416 §4.2.3); one that returns
// nothing or tooBig gets fewer cursors a request.
const maxRepeaters = 16

// maxCursors bounds the ranges one subtree is split into.
const maxCursors = 256

// cursor walks one range of one subtree: the OIDs after its start up to
// and including hi (nil: the subtree's end).
type cursor[T any] struct {
	root    int
	next    string   // the OID the next request asks from
	last    []uint32 // the last OID read or, before any, the range's start
	hi      []uint32
	acc     T   // what was read and not handed over yet
	pending int // records in acc
	done    bool
	busy    bool // in a request not answered yet
	first   bool // nothing read yet by the root's first cursor
}

// A walk's records are gathered by add into an accumulator of type T per
// cursor (a slice of records, or the lines printed for them), and handed
// over in order by flush, which returns the accumulator emptied for
// reuse.
type (
	addFunc[T any]   func(acc T, r Record) T
	flushFunc[T any] func(root int, acc T) (T, error)
)

// bulkWalk reads the subtrees under roots with GETBULK requests that
// carry up to repeaters cursors each, and hands the records over through
// add and flush: in OID order within a subtree, every record of roots[i]
// before any of roots[i+1], as walking them one after the other would,
// each answer's share as soon as everything before it is handed over.
// With split, a subtree that is a conceptual table
// (root.1.column.index…) is split at its columns as they are found, so
// its columns are read side by side.
//
// Each cursor checks that its OIDs increase and stay in its range; each
// subtree is bounded by MaxWalkRecords. The error of each subtree is
// returned in errs (nil when it was read completely); err is flush's,
// which ends the walk.
//
// The rows of an answer are assumed laid out as RFC 3416 says (row after
// row, one variable per cursor in each); an answer that is not — one
// whose OIDs do not increase for some cursor — is dropped, and the rest
// is read one OID a request.
func bulkWalk[T any](ctx context.Context, p *Prober, ss []*session, roots []string, vlan int, split bool, repeaters int,
	add addFunc[T], flush flushFunc[T]) (errs []error, err error) {
	errs = make([]error, len(roots))
	rootArcs := make([][]uint32, len(roots))
	counts := make([]int, len(roots))
	var cursors []*cursor[T]
	for i, r := range roots {
		arcs, ok := parseOIDInto(nil, r)
		if !ok {
			errs[i] = fmt.Errorf("%.64q is not a numeric OID", r)
			continue
		}
		rootArcs[i] = arcs
		cursors = append(cursors, &cursor[T]{root: i, next: "." + strings.TrimPrefix(r, "."), last: slices.Clone(arcs), first: true})
	}
	ncursors := make([]int, len(roots))
	for _, c := range cursors {
		ncursors[c.root]++
	}
	head := 0 // cursors before head are done and handed over
	var outErr error
	// advance hands over what the first cursors not handed over hold.
	advance := func() {
		for head < len(cursors) && outErr == nil {
			c := cursors[head]
			if c.pending > 0 {
				c.acc, outErr = flush(c.root, c.acc)
				c.pending = 0
			}
			if !c.done {
				return
			}
			head++
		}
	}
	deliver := func(c *cursor[T], r Record) {
		c.acc = add(c.acc, r)
		c.pending++
	}
	// fail ends every cursor of root i, dropping what they hold.
	fail := func(i int, e error) {
		errs[i] = e
		for _, c := range cursors {
			if c.root == i && !c.done {
				var zero T
				c.done, c.acc, c.pending = true, zero, 0
			}
		}
	}
	unread := func(i int) bool {
		return errs[i] == nil && slices.ContainsFunc(cursors, func(c *cursor[T]) bool { return c.root == i && !c.done })
	}
	if repeaters < 1 {
		repeaters = 1
	}
	for _, s := range ss {
		if s.g.MaxOids < repeaters {
			s.g.MaxOids = repeaters
		}
	}
	limit := repeaters
	// With several sessions, as many requests are in flight, each for its
	// own cursors: the device computes one answer while the last is
	// decoded. mu guards everything above; a worker holds it but while
	// its request is out.
	var mu sync.Mutex
	idle := sync.NewCond(&mu)
	inflight := 0
	stop := false
	worker := func(s *session) {
		var arcs []uint32 // the OIDs of an answer, parsed: vars[j]'s are arcs[offs[j]:offs[j+1]]
		var offs []int
		active := make([]*cursor[T], 0, repeaters)
		oids := make([]string, 0, repeaters)
		mu.Lock()
		defer mu.Unlock()
		defer idle.Broadcast()
		for ; !stop && outErr == nil; advance() {
			if ctx.Err() != nil {
				for i := range roots {
					if unread(i) {
						fail(i, ctx.Err())
					}
				}
				stop = true
				break
			}
			free := 0
			for _, c := range cursors[head:] {
				if !c.done && !c.busy {
					free++
				}
			}
			want := limit
			if len(ss) > 1 && inflight == 0 && free > 1 {
				want = min(limit, (free+1)/2) // leave the other request some
			}
			active, oids = active[:0], oids[:0]
			for _, c := range cursors[head:] {
				if len(active) == want {
					break
				}
				if !c.done && !c.busy {
					c.busy = true
					active = append(active, c)
					oids = append(oids, c.next)
				}
			}
			if len(active) == 0 {
				if inflight == 0 {
					break // every cursor is done
				}
				idle.Wait() // for the other request's answer: it may add cursors
				continue
			}
			inflight++
			mu.Unlock()
			res, rerr := s.g.GetBulk(oids, 0, s.g.MaxRepetitions)
			mu.Lock()
			inflight--
			for _, c := range active {
				c.busy = false
			}
			idle.Broadcast()
			if stop || outErr != nil {
				break
			}
			if rerr != nil {
				// The device stopped answering, or ctx is done: every
				// subtree not read yet fails alike.
				for i := range roots {
					if unread(i) {
						fail(i, rerr)
					}
				}
				stop = true
				break
			}
			vars := res.Variables
			k := len(active)
			if k > 1 && (res.Error == gosnmp.TooBig || len(vars) == 0) {
				limit = max(1, min(limit, k/2)) // ask for fewer ranges at once
				continue
			}
			if res.Error != gosnmp.NoError || len(vars) == 0 {
				// As gosnmp's BulkWalk: an error status or an empty answer
				// ends the walk of what was asked.
				for _, c := range active {
					c.done = true
				}
				continue
			}
			// Check the answer before taking any of it: each cursor's OIDs
			// must parse and increase. An agent that breaks this with several
			// OIDs to a request (one that answers only the first, say) is
			// asked one OID at a time from then on, where a decreasing OID
			// fails the subtree.
			arcs, offs = arcs[:0], append(offs[:0], 0)
			bad := false
			for j, v := range vars {
				var ok bool
				if arcs, ok = parseOIDInto(arcs, v.Name); !ok {
					arcs = arcs[:offs[j]]
					if !isEnd(v) {
						bad = true
					}
				}
				offs = append(offs, len(arcs))
			}
			for i, c := range active {
				prev := c.last
				for j := i; j < len(vars) && !bad; j += k {
					if isEnd(vars[j]) {
						break
					}
					cur := arcs[offs[j]:offs[j+1]]
					bad = compareOID(cur, prev) <= 0
					prev = cur
				}
			}
			if bad && k > 1 {
				limit = 1
				continue
			}
			if len(vars) < k {
				limit = max(1, min(limit, len(vars))) // not even one row fits: fewer next time
			}
			for j, v := range vars {
				c := active[j%k]
				if c.done {
					continue
				}
				i := c.root
				if isEnd(v) {
					c.done = true
					continue
				}
				oid := arcs[offs[j]:offs[j+1]]
				if len(oid) == 0 {
					fail(i, fmt.Errorf("malformed OID %.64q", v.Name))
					continue
				}
				if compareOID(oid, c.last) <= 0 {
					fail(i, errNotIncreasing)
					continue
				}
				if !hasPrefix(oid, rootArcs[i]) || c.hi != nil && compareOID(oid, c.hi) > 0 {
					if c.first && j < k {
						// The subtree is empty or a leaf: as snmpbulkwalk
						// and gosnmp, read the root itself.
						c.first = false
						if r, ok := p.getLeaf(s, roots[i]); ok {
							counts[i]++
							deliver(c, Record{VLAN: vlan, PDU: r})
						}
					}
					c.done = true
					continue
				}
				if counts[i] >= p.o.MaxWalkRecords {
					fail(i, errWalkLimit)
					continue
				}
				counts[i]++
				c.first = false
				c.last = append(c.last[:0], oid...)
				c.next = v.Name
				deliver(c, Record{VLAN: vlan, PDU: v})
				// A table's column: read the next columns side by side.
				r := rootArcs[i]
				if split && c.hi == nil && ncursors[i] < maxCursors && len(oid) >= len(r)+3 && oid[len(r)] == 1 && oid[len(r)+1] < math.MaxUint32 {
					at := append(slices.Clip(slices.Clone(r)), 1, oid[len(r)+1]+1)
					c.hi = at
					nc := &cursor[T]{root: i, next: formatOID(at), last: slices.Clone(at)}
					cursors = slices.Insert(cursors, slices.Index(cursors, c)+1, nc)
					ncursors[i]++
				}
			}
		}
		stop = true
	}
	var wg sync.WaitGroup
	for _, s := range ss[1:] {
		wg.Go(func() { worker(s) })
	}
	worker(ss[0])
	wg.Wait()
	advance()
	return errs, outErr
}

func isEnd(v gosnmp.SnmpPDU) bool {
	return v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance
}

// getLeaf reads oid with a GET, for a walk whose root is a leaf.
func (p *Prober) getLeaf(s *session, oid string) (gosnmp.SnmpPDU, bool) {
	res, err := s.g.Get([]string{oid})
	if err != nil || res.Error != gosnmp.NoError || len(res.Variables) != 1 {
		return gosnmp.SnmpPDU{}, false
	}
	v := res.Variables[0]
	if v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance || v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.Null {
		return gosnmp.SnmpPDU{}, false
	}
	if strings.TrimPrefix(v.Name, ".") != strings.TrimPrefix(oid, ".") {
		return gosnmp.SnmpPDU{}, false
	}
	return v, true
}

// walkRoots reads the subtrees under roots as bulkWalk does, with a
// request in flight on each session, the whole walk bounded by
// WalkTimeout, and returns the error of each subtree. SNMPv1 walks one
// subtree after the other with GETNEXT on the first session.
func walkRoots[T any](ctx context.Context, p *Prober, ss []*session, roots []string, vlan int, split bool,
	add addFunc[T], flush flushFunc[T]) ([]error, error) {
	wctx, cancel := context.WithTimeout(ctx, p.o.WalkTimeout)
	defer cancel()
	for _, s := range ss {
		s.g.Context = wctx
	}
	defer func() {
		for _, s := range ss {
			s.g.Context = ctx
		}
	}()
	var errs []error
	var err error
	if ss[0].g.Version == gosnmp.Version1 {
		errs = make([]error, len(roots))
		for i, root := range roots {
			if errs[i], err = walkNext(p, ss[0], root, vlan, i, add, flush); err != nil {
				return errs, err
			}
		}
	} else {
		n := maxRepeaters
		if len(roots) == 1 && !split {
			n = 1
		}
		if errs, err = bulkWalk(wctx, p, ss, roots, vlan, split, n, add, flush); err != nil {
			return errs, err
		}
	}
	for i, e := range errs {
		if e != nil && wctx.Err() != nil && ctx.Err() == nil {
			errs[i] = fmt.Errorf("walk took longer than %v: %w", p.o.WalkTimeout, e)
		}
	}
	return errs, nil
}

// walkNext is the SNMPv1 walk of roots[root] (GETNEXT). It returns the
// walk's error, and flush's.
func walkNext[T any](p *Prober, s *session, oid string, vlan, root int, add addFunc[T], flush flushFunc[T]) (error, error) {
	var last []uint32
	n := 0
	var acc T
	var outErr error
	fn := func(pdu gosnmp.SnmpPDU) error {
		if n >= p.o.MaxWalkRecords {
			return errWalkLimit
		}
		cur, ok := parseOIDInto(nil, pdu.Name)
		if !ok {
			return fmt.Errorf("malformed OID %.64q", pdu.Name)
		}
		if last != nil && compareOID(cur, last) <= 0 {
			return errNotIncreasing
		}
		last = cur
		n++
		acc, outErr = flush(root, add(acc, Record{VLAN: vlan, PDU: pdu}))
		return outErr
	}
	err := s.g.Walk(oid, fn)
	if outErr != nil {
		return nil, outErr
	}
	if err != nil && strings.Contains(err.Error(), "OID not increasing") {
		err = fmt.Errorf("%w: %v", errNotIncreasing, err)
	}
	return err, nil
}

// appendRecord and gather collect a walk's records in a slice.
func appendRecord(acc []Record, r Record) []Record { return append(acc, r) }

func gather(into *[]Record) flushFunc[[]Record] {
	return func(_ int, acc []Record) ([]Record, error) {
		*into = append(*into, acc...)
		return acc[:0], nil
	}
}

// walk reads the subtree under oid alone.
func (p *Prober) walk(ctx context.Context, s *session, oid string, vlan int) ([]Record, error) {
	var recs []Record
	errs, _ := walkRoots(ctx, p, []*session{s}, []string{oid}, vlan, false, appendRecord, gather(&recs))
	return recs, errs[0]
}

// parseOIDInto parses a dotted OID (with or without its leading dot) into
// dst's storage.
func parseOIDInto(dst []uint32, s string) ([]uint32, bool) {
	s = strings.TrimPrefix(s, ".")
	if s == "" || len(s) > 1024 {
		return dst, false
	}
	var n uint64
	digits := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 {
				return dst, false
			}
			dst = append(dst, uint32(n))
			n, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return dst, false
		}
		n = n*10 + uint64(c-'0')
		digits++
		if n > math.MaxUint32 {
			return dst, false
		}
	}
	return dst, true
}

func formatOID(arcs []uint32) string {
	b := make([]byte, 0, 4*len(arcs))
	for _, a := range arcs {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(a), 10)
	}
	return string(b)
}

func hasPrefix(oid, prefix []uint32) bool {
	return len(oid) > len(prefix) && slices.Equal(oid[:len(prefix)], prefix)
}
