package emulator

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"
)

// LatencyProxy is a TCP proxy in front of an emulator that delays every byte by a fixed time in
// each direction, modelling the network and service time between a client and DynamoDB in the
// same region, which a local emulator does not have. The delay is a pipe, not a queue: bytes
// read at t are written at t+oneWay, so it adds latency without limiting throughput, and
// every connection (one per concurrent request) gets the same delay.
type LatencyProxy struct {
	URL    string
	ln     net.Listener
	oneWay time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

// StartLatencyProxy proxies to target (an http://host:port URL) with oneWay delay each way.
func StartLatencyProxy(target string, oneWay time.Duration) (*LatencyProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("latency proxy: target %q is not a URL with a host", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	p := &LatencyProxy{URL: "http://" + ln.Addr().String(), ln: ln, oneWay: oneWay, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c, u.Host)
			}()
		}
	}()
	return p, nil
}

func (p *LatencyProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *LatencyProxy) serve(client net.Conn, target string) {
	server, err := net.Dial("tcp", target)
	if err != nil {
		client.Close()
		return
	}
	p.track(client, true)
	p.track(server, true)
	defer func() {
		p.track(client, false)
		p.track(server, false)
		client.Close()
		server.Close()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk oneWay after it was read; when src ends, dst is closed
// for writing (after the delayed bytes), so that the other side sees the end too.
func (p *LatencyProxy) pipe(dst, src net.Conn) {
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(p.oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	for range ch { // drain, so the reader can exit
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_, _ = io.Copy(io.Discard, src)
	}
}

// Close stops the proxy and its connections.
func (p *LatencyProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
