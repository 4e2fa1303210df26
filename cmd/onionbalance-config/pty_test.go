//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	return m, s
}

// The interactive mode on a real terminal: the built binary answers its prompts as a user would type.
func TestInteractiveOnPseudoTerminal(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "onionbalance-config")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	master, slave := openPTY(t)
	defer master.Close()
	out := filepath.Join(t.TempDir(), "conf")
	cmd := exec.Command(bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	r := bufio.NewReader(master)
	var seen strings.Builder
	// expect reads until the prompt text appears, then types the answer.
	expect := func(prompt, answer string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(seen.String(), prompt) {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt %q; the terminal showed:\n%s", prompt, seen.String())
			}
			_ = master.SetReadDeadline(time.Now().Add(time.Second))
			b, err := r.ReadByte()
			if err == nil {
				seen.WriteByte(b)
			}
		}
		s := seen.String()
		seen.Reset()
		seen.WriteString(s[strings.Index(s, prompt)+len(prompt):])
		if _, err := master.WriteString(answer + "\r"); err != nil {
			t.Fatal(err)
		}
	}
	expect("Output folder [config]: ", out)
	expect("Number of services (public onion addresses) [1]: ", "")
	expect("Service 1: path of an existing master key (empty: generate one) []: ", "")
	expect("Service 1: number of backends [2]: ", "3")
	expect("Service 1: backend name prefix [node]: ", "web")
	expect("Service 1: number of authorized clients (0: anyone who knows the address may connect) [0]: ", "")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, seen.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the generator did not finish")
	}
	for _, name := range []string{"web1", "web2", "web3"} {
		if _, err := os.Stat(filepath.Join(out, name, "hs", "hostname")); err != nil {
			t.Errorf("backend %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "master", "config.yaml")); err != nil {
		t.Error(err)
	}
}
