package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// A FastDecoder decodes a report's JSON (data, which it may keep
// references into) faster than encoding/json. It returns ok false when it
// cannot decide: on input it does not take, or finds anything wrong with.
// When it decides, its report must be the one encoding/json's Decoder
// decodes from data (and encoding/json must find no error in data, nor
// data after the report); the collector's FastDecoder (see its api
// package) is checked against encoding/json on hostile and mutated input.
type FastDecoder func(data []byte) (rep *Report, ok bool)

// DecodeSizedWith is DecodeSized decoding the JSON with fast first, and
// with encoding/json where fast does not decide: every error is then
// encoding/json's, word for word. A nil fast is DecodeSized.
func DecodeSizedWith(r io.Reader, sizeHint int, lim Limits, now time.Time, fast FastDecoder) (*Report, int, error) {
	var buf bytes.Buffer
	if sizeHint > 0 {
		buf.Grow(int(min(int64(sizeHint)+bytes.MinRead, lim.MaxBodyBytes+1)))
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, lim.MaxBodyBytes+1)); err != nil {
		return nil, 0, &DecodeError{Err: err}
	}
	data := buf.Bytes() // the report's own: fast may keep references into it
	if int64(len(data)) > lim.MaxBodyBytes {
		return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxBodyBytes)
	}
	var rep *Report
	ok := false
	if fast != nil {
		rep, ok = fast(data)
	}
	if !ok {
		var err error
		if rep, err = unmarshalReport(data); err != nil {
			return nil, len(data), err
		}
	}
	if err := rep.Validate(lim, now); err != nil {
		return nil, len(data), err
	}
	return rep, len(data), nil
}

// unmarshalReport decodes data with encoding/json's Decoder, and checks
// that nothing but white space or a closing bracket follows the report
// (Decoder.More).
func unmarshalReport(data []byte) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rep); err != nil {
		return nil, &DecodeError{Err: describeJSONError(err)}
	}
	if dec.More() {
		return nil, &DecodeError{Err: errors.New("trailing data after the report")}
	}
	return &rep, nil
}
