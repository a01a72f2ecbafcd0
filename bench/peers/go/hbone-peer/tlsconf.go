package main

// Mesh TLS: Istio's workload certificate files, TLS 1.3 only, ALPN h2, and chain verification
// against the mesh root without host names (workload certificates carry only a SPIFFE URI SAN).

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

type meshTLS struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

func loadMeshTLS(dir string) (*meshTLS, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert-chain.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	rootPem, err := os.ReadFile(filepath.Join(dir, "root-cert.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPem) {
		return nil, fmt.Errorf("%s: no certificate in root-cert.pem", dir)
	}
	return &meshTLS{cert: cert, roots: roots}, nil
}

// verifyPeer checks the chain against the mesh root and that the leaf names a SPIFFE identity.
func (m *meshTLS) verifyPeer(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("no peer certificate")
	}
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return err
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return err
	}
	for _, u := range certs[0].URIs {
		if u.Scheme == "spiffe" {
			return nil
		}
	}
	return errors.New("peer certificate has no SPIFFE identity")
}

func (m *meshTLS) client() *tls.Config {
	return &tls.Config{
		Certificates:          []tls.Certificate{m.cert},
		MinVersion:            tls.VersionTLS13,
		NextProtos:            []string{"h2"},
		InsecureSkipVerify:    true, // replaced by verifyPeer: no host name to check
		VerifyPeerCertificate: m.verifyPeer,
	}
}

func (m *meshTLS) server() *tls.Config {
	return &tls.Config{
		Certificates:          []tls.Certificate{m.cert},
		MinVersion:            tls.VersionTLS13,
		NextProtos:            []string{"h2"},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: m.verifyPeer,
	}
}
