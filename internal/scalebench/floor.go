package scalebench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread moved into network namespace ns ("":
// this one). Sockets fn makes belong to ns for their whole life, on any
// thread. If the thread cannot move back it is left locked, so Go ends
// it rather than reuse it.
func inNetns(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("scalebench: %w", err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("scalebench: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("scalebench: entering %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
		runtime.UnlockOSThread()
	}
	return ferr
}

// streamFloor sends size bytes from a listener at from (in namespace
// fromNS) to a connection dialed from namespace toNS, over plain TCP or
// TLS, and returns the time the receiver took: the path a pull between
// those nodes takes, without rayo.
func streamFloor(fromNS, fromIP, toNS string, size int64, withTLS bool) (time.Duration, error) {
	var ln net.Listener
	if err := inNetns(fromNS, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(fromIP, "0"))
		return err
	}); err != nil {
		return 0, fmt.Errorf("scalebench: floor listener: %w", err)
	}
	defer ln.Close()
	var cfg *tls.Config
	if withTLS {
		cert, err := throwawayCert()
		if err != nil {
			return 0, err
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		if cfg != nil {
			c = tls.Server(c, cfg)
		}
		buf := make([]byte, 1<<20)
		for left := size; left > 0; {
			n := min(left, int64(len(buf)))
			if _, err := c.Write(buf[:n]); err != nil {
				sent <- err
				return
			}
			left -= n
		}
		sent <- nil
	}()
	var c net.Conn
	if err := inNetns(toNS, func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		return 0, fmt.Errorf("scalebench: floor dial: %w", err)
	}
	defer c.Close()
	if cfg != nil {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // a throwaway cert: the floor measures the cipher, not trust
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, size), make([]byte, 1<<20))
	el := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("scalebench: floor stream: %w", err)
	}
	if n != size {
		return 0, fmt.Errorf("scalebench: floor stream: %d of %d bytes", n, size)
	}
	if err := <-sent; err != nil {
		return 0, fmt.Errorf("scalebench: floor sender: %w", err)
	}
	return el, nil
}

func throwawayCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("scalebench: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scalebench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("scalebench: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
