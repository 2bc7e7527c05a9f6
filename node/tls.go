package node

import (
	"crypto/tls"
	"log/slog"

	"github.com/miniodb/miniodb/internal/certs"
)

// peerTLS returns the TLS configurations of the Raft address, or nils
// when peer TLS is off.
func peerTLS(cfg Config, logger *slog.Logger) (server, client *tls.Config, err error) {
	if cfg.PeerCertFile == "" {
		return nil, nil, nil
	}
	return certs.PeerConfigs(cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile, logger)
}

// apiTLS returns the API's TLS configuration, or nil without TLS. The
// certificate is reloaded when its files change. HTTP/2 is offered for
// gRPC; HTTP/1.1 for curl and Connect. With peer TLS, a client
// certificate of the cluster CA is checked if one is sent: it lets a
// joining node join without an admin token.
func apiTLS(cfg Config, logger *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	r, err := certs.NewReloader(cfg.TLSCertFile, cfg.TLSKeyFile, logger)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if cfg.PeerCAFile != "" {
		// A node may present its cluster certificate to join without a
		// token (authenticate); clients need none.
		pool, err := certs.LoadPool(cfg.PeerCAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}
