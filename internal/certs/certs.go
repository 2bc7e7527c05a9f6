package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloadCheck is how often a Reloader looks at its files' modification
// times; a handshake in between uses the certificate in memory.
const reloadCheck = time.Second

// Reloader serves a certificate and key pair from files, reloading them
// when either file changes. A reload that fails (a half-written file)
// keeps the previous pair and is logged; the next check tries again.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // modification times of the loaded files
	checked time.Time
}

// NewReloader loads the pair at once, so a bad file is an error at start.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp); err != nil {
		return nil, err
	}
	r.checked = time.Now()
	return r, nil
}

func (r *Reloader) stamps() ([2]time.Time, error) {
	var out [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("certs: %w", err)
		}
		out[i] = st.ModTime()
	}
	return out, nil
}

func (r *Reloader) load(stamp [2]time.Time) error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("certs: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &c, stamp
	return nil
}

// Certificate returns the current pair, reloading it first if its files
// changed since the last check.
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= reloadCheck {
		r.checked = now
		if stamp, err := r.stamps(); err != nil {
			r.logger.Warn("certificate files unreadable; keeping the loaded certificate", "error", err)
		} else if stamp != r.stamp {
			if err := r.load(stamp); err != nil {
				r.logger.Warn("certificate reload failed; keeping the loaded certificate", "error", err)
			} else {
				r.logger.Info("certificate reloaded", "cert_file", r.certFile)
			}
		}
	}
	return r.cert
}

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// LoadPool reads the PEM certificates of a CA file.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("certs: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// PeerConfigs returns the TLS configurations of a node's peer connections:
// the server side requires a client certificate of the cluster CA, the
// client side presents the node's certificate and checks the server's
// chain (see the package doc: not its host name).
func PeerConfigs(certFile, keyFile, caFile string, logger *slog.Logger) (server, client *tls.Config, err error) {
	r, err := NewReloader(certFile, keyFile, logger)
	if err != nil {
		return nil, nil, err
	}
	pool, err := LoadPool(caFile)
	if err != nil {
		return nil, nil, err
	}
	if err := verify(pool, r.Certificate(), x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, nil, fmt.Errorf("certs: the node certificate %s: %w", certFile, err)
	}
	server = &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: r.GetCertificate,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      pool,
	}
	client = &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: r.GetClientCertificate,
		// The chain is checked in VerifyConnection, without a host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the peer sent no certificate")
			}
			return verifyChain(pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
		},
	}
	return server, client, nil
}

func verify(pool *x509.CertPool, c *tls.Certificate, usages ...x509.ExtKeyUsage) error {
	var chain []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		chain = append(chain, x)
	}
	for _, u := range usages {
		if err := verifyChain(pool, chain, u); err != nil {
			return err
		}
	}
	return nil
}

func verifyChain(pool *x509.CertPool, chain []*x509.Certificate, usage x509.ExtKeyUsage) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("not signed for %s by the cluster CA: %w", usageName(usage), err)
	}
	return nil
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageClientAuth {
		return "client authentication"
	}
	return "server authentication"
}
