package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options says what Generate makes.
type Options struct {
	// Dir receives ca.crt and ca.key (kept if present, so more nodes can
	// be added later) and <node>.crt, <node>.key per node.
	Dir string
	// Nodes names the node certificates to make.
	Nodes []string
	// Hosts are the extra DNS names and IPs every node certificate is
	// valid for, besides localhost, 127.0.0.1 and ::1.
	Hosts []string
	// Validity is how long the certificates are valid.
	Validity time.Duration
}

// Generated lists the files Generate wrote or kept.
type Generated struct {
	CACert, CAKey string
	// Nodes maps a node name to its certificate and key files.
	Nodes map[string][2]string
	// CAKept is true when an existing CA was reused.
	CAKept bool
}

// Generate makes a cluster CA and node certificates (each valid for both
// server and client authentication, so one file serves the API, Raft and
// node-to-node calls). Keys are ECDSA P-256, written with mode 0600.
func Generate(o Options) (*Generated, error) {
	if o.Dir == "" {
		return nil, errors.New("certs: no directory")
	}
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	g := &Generated{CACert: filepath.Join(o.Dir, "ca.crt"), CAKey: filepath.Join(o.Dir, "ca.key"), Nodes: map[string][2]string{}}
	ca, caKey, kept, err := loadOrMakeCA(g.CACert, g.CAKey, o.Validity)
	if err != nil {
		return nil, err
	}
	g.CAKept = kept
	for _, name := range o.Nodes {
		if name == "" || filepath.Base(name) != name || name == "ca" {
			return nil, fmt.Errorf("certs: node name %q cannot name a file", name)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: name, Organization: []string{"MinIODB cluster"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(o.Validity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     []string{"localhost", name},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		for _, h := range o.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else if h != "" {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, fmt.Errorf("certs: sign %s: %w", name, err)
		}
		files := [2]string{filepath.Join(o.Dir, name+".crt"), filepath.Join(o.Dir, name+".key")}
		if err := writePEM(files[0], "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
		if err := writeKey(files[1], key); err != nil {
			return nil, err
		}
		g.Nodes[name] = files
	}
	return g, nil
}

func loadOrMakeCA(certFile, keyFile string, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, bool, error) {
	if _, err := os.Stat(certFile); err == nil {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, false, fmt.Errorf("certs: the existing CA: %w", err)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, false, fmt.Errorf("certs: the existing CA key %s is not an ECDSA key", keyFile)
		}
		ca, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, false, fmt.Errorf("certs: the existing CA: %w", err)
		}
		return ca, key, true, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, false, fmt.Errorf("certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "MinIODB cluster CA", Organization: []string{"MinIODB cluster"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, false, fmt.Errorf("certs: make CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, false, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, false, err
	}
	if err := writeKey(keyFile, key); err != nil {
		return nil, nil, false, err
	}
	return ca, key, false, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func writeKey(file string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return writePEM(file, "PRIVATE KEY", der, 0o600)
}

func writePEM(file, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
