// Package target turns what a person or a scan job asks to scan — CIDRs,
// ranges and single addresses, with exclusions — into a bounded set of
// addresses. Nothing outside what was asked is ever produced, and no set
// can exceed the configured maximum size.
package target

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strings"
)

// DefaultMaxAddrs is the default bound on the number of addresses one scan
// may cover: a /16.
const DefaultMaxAddrs = 1 << 16

// HardMaxAddrs is the bound no configuration can raise: a /12.
const HardMaxAddrs = 1 << 20

// ErrTooLarge is returned when the targets cover more addresses than the
// bound.
var ErrTooLarge = errors.New("targets exceed the maximum scan size")

// Range is an inclusive range of addresses of one family.
type Range struct {
	From, To netip.Addr
}

// Len returns the number of addresses in r, saturated at HardMaxAddrs+1.
func (r Range) Len() uint64 { return span(r.From, r.To) }

// Set is an ordered list of disjoint ranges.
type Set struct {
	ranges []Range
	n      uint64
}

// Parse parses specs and excludes and returns the addresses of specs that
// are not in excludes. A spec is a CIDR prefix (198.18.1.0/24), a range
// (198.18.1.10-198.18.1.20 or 198.18.1.10-20) or a single address. The
// result must hold at most maxAddrs addresses (DefaultMaxAddrs when zero,
// never more than HardMaxAddrs). For IPv4 prefixes shorter than /31, the
// network and broadcast addresses are left out.
func Parse(specs, excludes []string, maxAddrs int) (*Set, error) {
	if maxAddrs <= 0 {
		maxAddrs = DefaultMaxAddrs
	}
	maxAddrs = min(maxAddrs, HardMaxAddrs)
	if len(specs) == 0 {
		return nil, errors.New("no targets")
	}
	var errs []error
	var inc, exc []Range
	for _, s := range specs {
		rs, err := parseSpec(s, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		inc = append(inc, rs...)
	}
	for _, s := range excludes {
		rs, err := parseSpec(s, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("exclude: %w", err))
			continue
		}
		exc = append(exc, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set := &Set{ranges: subtract(merge(inc), merge(exc))}
	for _, r := range set.ranges {
		set.n += r.Len()
		if set.n > uint64(maxAddrs) {
			return nil, fmt.Errorf("%w: more than %d addresses", ErrTooLarge, maxAddrs)
		}
	}
	return set, nil
}

func parseSpec(s string, include bool) ([]Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty target")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%q: zones are not supported", s)
		}
		p = p.Masked()
		from := p.Addr()
		to := lastAddr(p)
		if include && from.Is4() && p.Bits() < 31 {
			from, to = from.Next(), to.Prev() // network and broadcast
		}
		if include && from.Is6() && p.Bits() < 64 {
			return nil, fmt.Errorf("%q: IPv6 prefixes shorter than /64 cannot be swept", s)
		}
		return []Range{{from, to}}, nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		from, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("%q is not an address range", s)
		}
		b = strings.TrimSpace(b)
		to, err := netip.ParseAddr(b)
		if err != nil && from.Is4() && !strings.Contains(b, ".") {
			// 198.18.1.10-20: the last octet.
			oct := from.As4()
			var n int
			if _, e := fmt.Sscanf(b, "%d", &n); e == nil && n >= 0 && n <= 255 && fmt.Sprint(n) == b {
				oct[3] = byte(n)
				to, err = netip.AddrFrom4(oct), nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not an address range", s)
		}
		if from.Is4() != to.Is4() || to.Less(from) || from.Zone() != "" || to.Zone() != "" {
			return nil, fmt.Errorf("%q is not an address range", s)
		}
		return []Range{{from.Unmap(), to.Unmap()}}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return nil, fmt.Errorf("%q is not an address, range or CIDR prefix", s)
	}
	a = a.Unmap()
	return []Range{{a, a}}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// span counts the addresses from a to b inclusive, saturating above
// HardMaxAddrs.
func span(a, b netip.Addr) uint64 {
	x, y := a.As16(), b.As16()
	// Any difference above the low 32 bits is far beyond the bound.
	for i := 0; i < 12; i++ {
		if x[i] != y[i] {
			return HardMaxAddrs + 1
		}
	}
	lo := func(v [16]byte) uint64 {
		return uint64(v[12])<<24 | uint64(v[13])<<16 | uint64(v[14])<<8 | uint64(v[15])
	}
	return lo(y) - lo(x) + 1
}

func merge(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int { return a.From.Compare(b.From) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].From.Is4() == r.From.Is4() {
			last := &out[n-1]
			if next := last.To.Next(); r.From.Compare(last.To) <= 0 || (next.IsValid() && r.From == next) {
				if last.To.Less(r.To) {
					last.To = r.To
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// subtract removes exc from inc; both are merged and sorted.
func subtract(inc, exc []Range) []Range {
	var out []Range
	for _, r := range inc {
		cur := []Range{r}
		for _, e := range exc {
			var next []Range
			for _, c := range cur {
				if e.To.Less(c.From) || c.To.Less(e.From) || e.From.Is4() != c.From.Is4() {
					next = append(next, c)
					continue
				}
				if c.From.Less(e.From) {
					next = append(next, Range{c.From, e.From.Prev()})
				}
				if e.To.Less(c.To) {
					next = append(next, Range{e.To.Next(), c.To})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

// Len returns the number of addresses in the set.
func (s *Set) Len() int { return int(s.n) }

// Ranges returns the set's ranges in order.
func (s *Set) Ranges() []Range { return slices.Clone(s.ranges) }

// Contains reports whether a is in the set.
func (s *Set) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, r := range s.ranges {
		if r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0 {
			return true
		}
	}
	return false
}

// All yields every address of the set in order.
func (s *Set) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for _, r := range s.ranges {
			for a := r.From; a.IsValid() && a.Compare(r.To) <= 0; a = a.Next() {
				if !yield(a) {
					return
				}
			}
		}
	}
}
