//go:build linux

package jepsen

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves line echo on a loopback address.
func echo(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// dialFrom connects from a source IP, as a node does.
func dialFrom(t *testing.T, src, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
	return d.Dial("tcp", addr)
}

// roundTrip writes a line and waits up to 300 ms for the echo.
func roundTrip(c net.Conn) error {
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

func TestNetCuts(t *testing.T) {
	n := NewNet()
	t.Cleanup(n.Close)
	n.AddNode(0, "127.0.0.11")
	n.AddNode(1, "127.0.0.12")
	n.AddNode(2, "127.0.0.13")
	// A proxy in front of node 2's service.
	addr, err := n.Listen(2, "raft", "127.0.0.13:0", echo(t, "127.0.0.13"))
	if err != nil {
		t.Fatal(err)
	}
	from0, err := dialFrom(t, "127.0.0.11", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer from0.Close()
	from1, err := dialFrom(t, "127.0.0.12", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer from1.Close()
	if roundTrip(from0) != nil || roundTrip(from1) != nil {
		t.Fatal("open links do not pass traffic")
	}

	// Cutting 0→2 closes 0's established connection and refuses new ones;
	// 1→2 is untouched.
	n.Cut(0, 2, ModeRefuse)
	if roundTrip(from0) == nil {
		t.Error("an established connection survived the cut")
	}
	if err := roundTrip(from1); err != nil {
		t.Errorf("another link broke: %v", err)
	}
	if c, err := dialFrom(t, "127.0.0.11", addr); err == nil {
		if roundTrip(c) == nil {
			t.Error("a new connection over a refused link passed traffic")
		}
		c.Close()
	}

	// Drop mode: the connection is accepted, but nothing comes back.
	n.Heal()
	n.Cut(0, 2, ModeDrop)
	c, err := dialFrom(t, "127.0.0.11", addr)
	if err != nil {
		t.Fatalf("drop mode should accept: %v", err)
	}
	if err := roundTrip(c); err == nil {
		t.Error("a dropped link answered")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("want a timeout on a dropped link, got %v", err)
	}
	// Healing closes black-holed connections and lets new ones through.
	n.Heal()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("a black-holed connection survived the heal")
	}
	c.Close()
	c, err = dialFrom(t, "127.0.0.11", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Errorf("after heal: %v", err)
	}
	// Connections from unknown sources are never cut.
	n.Partition([][]int{{0, 1}, {2}}, ModeRefuse)
	u, err := dialFrom(t, "127.0.0.1", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := roundTrip(u); err != nil {
		t.Errorf("unknown source: %v", err)
	}
}
