package deploytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The entrypoint test puts wrapper scripts named tor and onionbalance in PATH that run this test
// binary again with fakeRoleEnv set; TestMain then runs the fake instead of the tests.
const (
	fakeRoleEnv = "DEPLOYTEST_FAKE"
	// fakeOutEnv names the folder where the fakes record what happened to them.
	fakeOutEnv = "DEPLOYTEST_OUT"
	// fakeTorModeEnv: "" serves the control socket until SIGTERM, "exit" opens it and exits with
	// status 3 once the fake daemon runs, "mute" never opens it.
	fakeTorModeEnv = "DEPLOYTEST_TOR_MODE"
)

// runFake runs the fake program role and returns its exit status.
func runFake(role string) int {
	out := os.Getenv(fakeOutEnv)
	record := func(format string, a ...any) {
		f, err := os.OpenFile(filepath.Join(out, role+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return
		}
		fmt.Fprintf(f, format+"\n", a...)
		f.Close()
	}
	record("pid %d", os.Getpid())
	// A fake never outlives a broken test by long.
	time.AfterFunc(2*time.Minute, func() { os.Exit(4) })
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	switch role {
	case "tor":
		return fakeTor(record, sigs)
	case "onionbalance":
		record("args %s", strings.Join(os.Args[1:], "|"))
		for s := range sigs {
			record("signal %v", s)
			if s != syscall.SIGHUP {
				return 0
			}
		}
	}
	return 2
}

// fakeTor opens the ControlSocket named in the torrc given with -f, as tor would.
func fakeTor(record func(string, ...any), sigs chan os.Signal) int {
	args := os.Args[1:]
	if len(args) != 2 || args[0] != "-f" {
		record("bad args %q", args)
		return 2
	}
	sock, err := torrcValue(args[1], "ControlSocket")
	if err != nil {
		record("%v", err)
		return 2
	}
	record("started")
	switch os.Getenv(fakeTorModeEnv) {
	case "mute":
		s := <-sigs
		record("signal %v", s)
		return 0
	case "exit":
		l, err := net.Listen("unix", sock)
		if err != nil {
			record("%v", err)
			return 2
		}
		defer l.Close()
		// Die only once the daemon runs, so that the test sees the entrypoint stop it.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(os.Getenv(fakeOutEnv), "onionbalance.log"))
			if strings.Contains(string(b), "args ") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return 3
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		record("%v", err)
		return 2
	}
	defer l.Close()
	for s := range sigs {
		record("signal %v", s)
		if s != syscall.SIGHUP {
			return 0
		}
	}
	return 0
}

func torrcValue(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("%s: no %s line", path, key)
}
