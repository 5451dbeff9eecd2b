// Package plist decodes Apple property lists, XML and binary (bplist00),
// into Go values: map[string]any, []any, string, int64, float64, bool,
// time.Time and []byte.
package plist

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits of what Decode accepts.
const (
	maxObjects = 1 << 20
	maxDepth   = 64
)

// Decode reads an XML or binary property list.
func Decode(data []byte) (any, error) {
	if bytes.HasPrefix(data, []byte("bplist00")) {
		return decodeBinary(data)
	}
	return decodeXML(data)
}

// Dict returns the top-level dictionary of a property list.
func Dict(data []byte) (map[string]any, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("top level is %T, not a dictionary", v)
	}
	return d, nil
}

// String returns d[key] if it is a string.
func String(d map[string]any, key string) string {
	s, _ := d[key].(string)
	return s
}

// Int returns d[key] if it is an integer.
func Int(d map[string]any, key string) (int64, bool) {
	n, ok := d[key].(int64)
	return n, ok
}

var appleEpoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

func decodeBinary(data []byte) (any, error) {
	if len(data) < 8+32 {
		return nil, errors.New("binary plist too short")
	}
	tr := data[len(data)-32:]
	offSize, refSize := int(tr[6]), int(tr[7])
	numObj := binary.BigEndian.Uint64(tr[8:])
	top := binary.BigEndian.Uint64(tr[16:])
	tableOff := binary.BigEndian.Uint64(tr[24:])
	if offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8 || numObj == 0 || numObj > maxObjects ||
		top >= numObj || tableOff >= uint64(len(data)) || tableOff+numObj*uint64(offSize) > uint64(len(data)-32) {
		return nil, errors.New("bad binary plist trailer")
	}
	d := &bdec{data: data, offSize: offSize, refSize: refSize, n: numObj, table: tableOff, busy: map[uint64]bool{}}
	return d.object(top, 0)
}

type bdec struct {
	data     []byte
	offSize  int
	refSize  int
	n, table uint64
	busy     map[uint64]bool
	count    int
}

func uintN(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func (d *bdec) object(ref uint64, depth int) (any, error) {
	if ref >= d.n {
		return nil, fmt.Errorf("object reference %d out of range", ref)
	}
	if depth > maxDepth || d.busy[ref] {
		return nil, errors.New("plist nests too deep or refers to itself")
	}
	d.count++
	if d.count > maxObjects {
		return nil, errors.New("too many objects")
	}
	o := d.table + ref*uint64(d.offSize)
	off := uintN(d.data[o : o+uint64(d.offSize)])
	if off >= uint64(len(d.data)-32) {
		return nil, errors.New("object offset out of range")
	}
	b := d.data[off : len(d.data)-32]
	marker, info := b[0]>>4, int(b[0]&0xf)
	b = b[1:]
	// length: for strings, data, arrays and dicts, 0xF means an int follows.
	length := func() (int, error) {
		if info != 0xf {
			return info, nil
		}
		if len(b) < 1 || b[0]>>4 != 1 {
			return 0, errors.New("bad length")
		}
		sz := 1 << (b[0] & 0xf)
		if sz > 8 || len(b) < 1+sz {
			return 0, errors.New("bad length")
		}
		n := uintN(b[1 : 1+sz])
		b = b[1+sz:]
		if n > uint64(len(d.data)) {
			return 0, errors.New("length larger than the file")
		}
		return int(n), nil
	}
	switch marker {
	case 0x0:
		switch info {
		case 8:
			return false, nil
		case 9:
			return true, nil
		}
		return nil, nil
	case 0x1:
		sz := 1 << info
		if sz > 16 || len(b) < sz {
			return nil, errors.New("bad integer")
		}
		if sz == 16 {
			return int64(uintN(b[8:16])), nil
		}
		return int64(uintN(b[:sz])), nil
	case 0x2:
		sz := 1 << info
		switch {
		case sz == 4 && len(b) >= 4:
			return float64(math.Float32frombits(uint32(uintN(b[:4])))), nil
		case sz == 8 && len(b) >= 8:
			return math.Float64frombits(uintN(b[:8])), nil
		}
		return nil, errors.New("bad real")
	case 0x3:
		if len(b) < 8 {
			return nil, errors.New("bad date")
		}
		f := math.Float64frombits(uintN(b[:8]))
		if math.IsNaN(f) || math.Abs(f) > 1e11 {
			return nil, errors.New("bad date")
		}
		return appleEpoch.Add(time.Duration(f * float64(time.Second))), nil
	case 0x4, 0x5, 0x6:
		n, err := length()
		if err != nil {
			return nil, err
		}
		if marker == 0x6 {
			if n > len(b)/2 {
				return nil, errors.New("string past the end")
			}
			u := make([]uint16, n)
			for i := range u {
				u[i] = binary.BigEndian.Uint16(b[2*i:])
			}
			return string(utf16Decode(u)), nil
		}
		if n > len(b) {
			return nil, errors.New("data past the end")
		}
		if marker == 0x4 {
			return append([]byte(nil), b[:n]...), nil
		}
		return string(b[:n]), nil
	case 0x8:
		return int64(uintN(b[:min(info+1, len(b))])), nil // UID
	case 0xa, 0xd:
		n, err := length()
		if err != nil {
			return nil, err
		}
		refs := n
		if marker == 0xd {
			refs = 2 * n
		}
		if refs*d.refSize > len(b) {
			return nil, errors.New("collection past the end")
		}
		self := ref
		ref := func(i int) uint64 { return uintN(b[i*d.refSize : (i+1)*d.refSize]) }
		d.busy[self] = true
		defer delete(d.busy, self)
		if marker == 0xa {
			out := make([]any, 0, n)
			for i := range n {
				v, err := d.object(ref(i), depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		}
		out := make(map[string]any, n)
		for i := range n {
			k, err := d.object(ref(i), depth+1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, errors.New("dictionary key is not a string")
			}
			v, err := d.object(ref(n+i), depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown object type %#x", marker)
}

func utf16Decode(u []uint16) []rune {
	out := make([]rune, 0, len(u))
	for i := 0; i < len(u); i++ {
		c := rune(u[i])
		if c >= 0xd800 && c < 0xdc00 && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] < 0xe000 {
			c = (c-0xd800)<<10 + (rune(u[i+1]) - 0xdc00) + 0x10000
			i++
		}
		out = append(out, c)
	}
	return out
}

func decodeXML(data []byte) (any, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, errors.New("no plist element")
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local == "plist" {
				continue
			}
			return xmlValue(dec, se, 0)
		}
	}
}

func xmlValue(dec *xml.Decoder, se xml.StartElement, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("plist nests too deep")
	}
	text := func() (string, error) {
		var s string
		err := dec.DecodeElement(&s, &se)
		return s, err
	}
	switch se.Name.Local {
	case "dict":
		out := map[string]any{}
		key := ""
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return out, nil
			case xml.StartElement:
				if t.Name.Local == "key" {
					if err := dec.DecodeElement(&key, &t); err != nil {
						return nil, err
					}
					continue
				}
				v, err := xmlValue(dec, t, depth+1)
				if err != nil {
					return nil, err
				}
				out[key] = v
			}
		}
	case "array":
		var out []any
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.EndElement:
				return out, nil
			case xml.StartElement:
				v, err := xmlValue(dec, t, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
		}
	case "string":
		return text()
	case "integer":
		s, err := text()
		if err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return n, nil
		}
		n, err := strconv.ParseUint(s, 0, 64)
		return int64(n), err
	case "real":
		s, err := text()
		if err != nil {
			return nil, err
		}
		return strconv.ParseFloat(strings.TrimSpace(s), 64)
	case "true", "false":
		if err := dec.Skip(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	case "date":
		s, err := text()
		if err != nil {
			return nil, err
		}
		return time.Parse(time.RFC3339, strings.TrimSpace(s))
	case "data":
		s, err := text()
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	}
	return nil, fmt.Errorf("unknown plist element <%s>", se.Name.Local)
}
