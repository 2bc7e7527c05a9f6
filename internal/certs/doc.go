// Package certs loads, reloads and makes the X.509 certificates of
// MinIODB's TLS: the API's server certificate (reloaded from its files
// without a restart when they change, so a renewed certificate takes
// effect on the next handshake) and the cluster's peer certificates
// (mutual TLS between nodes, all signed by one cluster CA).
//
// Peer verification checks the chain to the cluster CA and the key usage,
// not the host name: any holder of a certificate the cluster CA signed is
// a member (as with Consul's and Nomad's cluster certificates), which lets
// a node be reached through proxies or under several names. Keep the
// cluster CA for the cluster alone.
//
// Generate makes a test CA and node certificates for one machine
// (`miniodb certs`); production deployments bring their own.
package certs
