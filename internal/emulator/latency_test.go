package emulator

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLatencyProxyPassesBytesBothWaysNoSoonerThanItsDelay: an echo server behind the proxy gets
// every line and answers it intact; an answer can never arrive before two one-way delays (a lower
// bound only: how much later depends on the machine's load).
func TestLatencyProxyPassesBytesBothWaysNoSoonerThanItsDelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = c.Write([]byte(strings.ToUpper(line)))
				}
			}()
		}
	}()
	p, err := StartLatencyProxy("http://"+ln.Addr().String(), 20*time.Millisecond)
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	big := strings.Repeat("x", 100_000)
	for _, msg := range []string{"hello", big, "bye"} {
		start := time.Now()
		_, err := c.Write([]byte(msg + "\n"))
		require.NoError(t, err)
		got, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(msg)+"\n", got)
		assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "a round trip takes at least both delays")
	}
	_, err = StartLatencyProxy("not a url", time.Millisecond)
	assert.Error(t, err)
}
