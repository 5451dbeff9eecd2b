package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
)

// shadowPage is how many unregistered devices umbra report shadow shows
// without --all.
const shadowPage = 100

// reportShadow prints the shadow report: by default its first page (the
// devices seen last) and how many more there are; with --all every device;
// --csv and --json export every device as the collector streams them.
func reportShadow(ctx context.Context, c *client, stdout io.Writer, all, asJSON, asCSV bool, fail func(error) int) int {
	q := url.Values{"kind": {reconcile.KindUnregisteredDevice}}
	if !all && !asJSON && !asCSV {
		q.Set("limit", strconv.Itoa(shadowPage))
		var out api.FindingsPage
		if err := c.do(ctx, http.MethodGet, api.PathFindings+"?"+q.Encode(), nil, &out); err != nil {
			return fail(err)
		}
		return writeShadow(stdout, out.Findings, out.Total, fail)
	}
	path := api.PathFindings + "?" + q.Encode()
	switch {
	case asJSON:
		// The collector's JSON, as it arrives.
		err := c.do(ctx, http.MethodGet, path, nil, func(r io.Reader) error {
			_, err := io.Copy(stdout, r)
			return err
		})
		if err != nil {
			return fail(err)
		}
		return exitOK
	case asCSV:
		cw := csv.NewWriter(stdout)
		_ = cw.Write(findingCSVHeader)
		err := c.do(ctx, http.MethodGet, path, nil, func(r io.Reader) error {
			return eachFinding(r, func(f *reconcile.StoredFinding) error {
				return cw.Write(findingCSV(f))
			})
		})
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
		if err != nil {
			return fail(err)
		}
		return exitOK
	}
	var fs []reconcile.StoredFinding
	err := c.do(ctx, http.MethodGet, path, nil, func(r io.Reader) error {
		return eachFinding(r, func(f *reconcile.StoredFinding) error {
			fs = append(fs, *f)
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	return writeShadow(stdout, fs, uint64(len(fs)), fail)
}

// eachFinding decodes the findings of a streamed api.FindingsPage one at
// a time.
func eachFinding(r io.Reader, fn func(*reconcile.StoredFinding) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != "findings" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return err
		}
		for dec.More() {
			var f reconcile.StoredFinding
			if err := dec.Decode(&f); err != nil {
				return err
			}
			if err := fn(&f); err != nil {
				return err
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

var errUnexpectedJSON = errors.New("unexpected JSON")

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("%w: %v, want %v", errUnexpectedJSON, tok, d)
	}
	return nil
}
