// Package pki keeps the collector's own certificate authority and the server
// certificate it signs, in the collector's state directory.
//
// On first start the collector makes an ECDSA P-256 CA (valid ten years) and
// a server certificate (valid one year, renewed on start when less than 30
// days remain or when the names it must carry changed). Agents pin the CA by
// the SHA-256 fingerprint of its DER encoding, as kubeadm join pins its CA.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File names in the state directory.
const (
	CAFile        = "ca.pem"
	caKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	serverKeyFile = "server-key.pem"
)

// Lifetimes.
const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// Bundle is the collector's TLS identity.
type Bundle struct {
	// CA is the certificate agents pin.
	CA *x509.Certificate
	// Certificate is the server's chain (leaf then CA) and key.
	Certificate tls.Certificate
	// Created lists what was made on this call: "ca", "server".
	Created []string
}

// Fingerprint is the pin of the CA: "sha256:" and the hex SHA-256 of its DER.
func (b *Bundle) Fingerprint() string { return Fingerprint(b.CA) }

// Fingerprint returns "sha256:<hex>" of a certificate's DER encoding.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a pin given by a user: "sha256:" then 64 hex
// digits, colons allowed between bytes, any case.
func ParseFingerprint(s string) (string, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	if !ok {
		return "", fmt.Errorf("CA fingerprint %q: want sha256:<64 hex digits>", s)
	}
	rest = strings.ReplaceAll(rest, ":", "")
	if b, err := hex.DecodeString(rest); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q: want sha256:<64 hex digits>", s)
	}
	return "sha256:" + rest, nil
}

// Ensure loads the CA and server certificate from dir, making whatever is
// missing; names are the DNS names and IP addresses the server certificate
// must carry (localhost and the loopback addresses are always added).
func Ensure(dir string, names []string, now time.Time) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making state directory: %w", err)
	}
	b := &Bundle{}
	ca, caKey, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ca, caKey, err = makeCA(now)
		if err != nil {
			return nil, err
		}
		if err := writePair(filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile), ca, caKey); err != nil {
			return nil, err
		}
		b.Created = append(b.Created, "ca")
	case err != nil:
		return nil, fmt.Errorf("loading the CA: %w", err)
	}
	b.CA = ca

	names = serverNames(names)
	leaf, key, err := loadPair(filepath.Join(dir, ServerFile), filepath.Join(dir, serverKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading the server certificate: %w", err)
	}
	if err != nil || !leafOK(leaf, ca, names, now) {
		leaf, key, err = makeServer(ca, caKey, names, now)
		if err != nil {
			return nil, err
		}
		if err := writePair(filepath.Join(dir, ServerFile), filepath.Join(dir, serverKeyFile), leaf, key); err != nil {
			return nil, err
		}
		b.Created = append(b.Created, "server")
	}
	b.Certificate = tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: key, Leaf: leaf}
	return b, nil
}

// LoadCA reads the CA certificate of the state directory dir.
func LoadCA(dir string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, err
	}
	return ParseCertPEM(data)
}

// ParseCertPEM parses the first certificate of a PEM file.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// EncodeCertPEM encodes a certificate as PEM.
func EncodeCertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func serverNames(extra []string) []string {
	set := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	if h, err := os.Hostname(); err == nil && h != "" {
		set[strings.ToLower(h)] = true
	}
	for _, n := range extra {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func leafOK(leaf, ca *x509.Certificate, names []string, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil || now.Add(renewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	have := map[string]bool{}
	for _, d := range leaf.DNSNames {
		have[strings.ToLower(d)] = true
	}
	for _, ip := range leaf.IPAddresses {
		have[ip.String()] = true
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		}
		if !have[n] {
			return false
		}
	}
	return true
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func makeCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "Umbra collector CA " + host, Organization: []string{"Umbra"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func makeServer(ca *x509.Certificate, caKey crypto.Signer, names []string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "umbra-collector", Organization: []string{"Umbra"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("making the server certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	c, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(signer.Public()) {
		return nil, nil, fmt.Errorf("%s does not match %s", keyPath, certPath)
	}
	return c, signer, nil
}

func writePair(certPath, keyPath string, c *x509.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", keyPath, err)
	}
	if err := WriteFileAtomic(certPath, EncodeCertPEM(c), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", certPath, err)
	}
	return nil
}

// WriteFileAtomic writes data to a temporary file beside path with mode perm
// and renames it into place.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := f.Name()
	cherr := f.Chmod(perm)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(cherr, werr, serr, cerr); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}
