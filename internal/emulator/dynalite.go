package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Dynalite is a dynalite server (npm dynalite, pinned in package.json): DynamoDB only, in
// memory, an order of magnitude faster than moto, so benchmarks over thousands of items measure
// the client rather than the emulator.
type Dynalite struct {
	URL  string
	cmd  *exec.Cmd
	logs *os.File
}

// StartDynalite starts node_modules/.bin/dynalite of the module at root on a free port.
func StartDynalite(root string) (*Dynalite, error) {
	bin := filepath.Join(root, "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("dynalite is not installed: run make deps (npm ci installs the pinned dynalite)")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logs, err := os.CreateTemp("", "dynalite-*.log")
	if err != nil {
		return nil, fmt.Errorf("dynalite log file: %w", err)
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logs.Close()
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	d := &Dynalite{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logs: logs}
	// Ready in well under a second on an idle machine; minutes on a loaded one (seen: 30 s at a
	// load average of 30 on 2 cores), and a slow start is not a test failure.
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return d, nil
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("dynalite did not listen on %s within %s: %w", d.URL, startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CPU returns the CPU time (user + system) the server process has used so far, from
// /proc/<pid>/stat, so a benchmark can tell a busy emulator from a waiting client.
func (d *Dynalite) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read dynalite's CPU time: %w", err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("read dynalite's CPU time: short /proc stat line")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// Stop ends the server and its process group.
func (d *Dynalite) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	d.logs.Close()
	os.Remove(d.logs.Name())
}

// Config is an SDK configuration that sends every request to this server.
func (d *Dynalite) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(d.URL),
	}
}
