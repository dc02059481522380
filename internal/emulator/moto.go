// Package emulator is the local AWS emulator kit that the tests and `make local` (cmd/localauth)
// run against. It starts the real local components: moto's server (the AWS emulator), dynalite,
// PostgreSQL, a Lambda Runtime API for running built bootstrap binaries, and endpoints that never
// answer; and it creates the emulated claims table and loads the Moped fixture. Everything binds
// to 127.0.0.1 on a free port and is stopped by the caller.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every emulated resource lives in.
const Region = "us-east-1"

// Moto is a running moto server.
type Moto struct {
	URL  string
	cmd  *exec.Cmd
	logs *os.File
}

// reuseVar names the moto a parent test process started. Go's fuzz workers are child processes
// of the test binary: they share the parent's server rather than each starting one (a worker's
// children would also inherit its coordinator pipes).
const reuseVar = "TESTENV_MOTO_URL"

// startTimeout bounds how long an emulator may take to answer after it is started.
const startTimeout = 2 * time.Minute

// StartMoto starts `moto_server` on a free loopback port and waits until it answers, or reuses
// the one a parent test process started.
func StartMoto() (*Moto, error) {
	if url := os.Getenv(reuseVar); url != "" {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return &Moto{URL: url}, nil
		}
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server is not on PATH: the integration tests need moto's server " +
			"(this machine's Python has it; elsewhere: pip install 'moto[server]==5.2.1')")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logs, err := os.CreateTemp("", "moto-*.log")
	if err != nil {
		return nil, fmt.Errorf("moto log file: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so Stop ends moto and anything it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logs.Close()
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logs: logs}
	// Ready in well under a second on an idle machine; minutes on a loaded one (seen: 30 s at a
	// load average of 30 on 2 cores), and a slow start is not a test failure.
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			os.Setenv(reuseVar, m.URL)
			return m, nil
		}
		if time.Now().After(deadline) {
			m.Stop()
			b, _ := os.ReadFile(logs.Name())
			return nil, fmt.Errorf("moto_server did not answer on %s within %s: %v\n%s", m.URL, startTimeout, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server and removes its log; a reused server is left to its owner.
func (m *Moto) Stop() {
	if m.cmd == nil {
		return
	}
	if m.cmd.Process != nil {
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = m.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	m.logs.Close()
	os.Remove(m.logs.Name())
}

// Env returns the standard SDK settings that point any AWS SDK (or a bootstrap binary) at moto.
func (m *Moto) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Setenv applies Env to this process via setenv (tests use t.Setenv for each pair instead).
func (m *Moto) Setenv(set func(k, v string)) {
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
}

// Config is an SDK config for moto with static test credentials.
func (m *Moto) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(m.URL),
	}
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Blackhole accepts TCP connections and never answers: a dependency that hangs. Close it when done.
func Blackhole() (url string, closeFn func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("blackhole: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-ctx.Done(); c.Close() }()
		}
	}()
	return "http://" + l.Addr().String(), func() { cancel(); l.Close() }, nil
}

// Refusing returns a loopback URL where nothing listens: connections are refused at once.
func Refusing() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port), nil
}

// RunWithMoto is a TestMain body: it starts moto, points this process's AWS SDK settings at it,
// stores it in *m, runs the tests and stops moto. Pass its result to os.Exit.
func RunWithMoto(tests interface{ Run() int }, m **Moto) int {
	mt, err := StartMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mt.Stop()
	mt.Setenv(func(k, v string) { os.Setenv(k, v) })
	*m = mt
	return tests.Run()
}
