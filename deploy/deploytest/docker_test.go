package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	line int
	cmd  string   // upper case: FROM, COPY, RUN, ...
	args []string // white-space separated
}

func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
		if !cont {
			f := strings.Fields(cur.String())
			out = append(out, dockerInstruction{line: start, cmd: strings.ToUpper(f[0]), args: f[1:]})
			cur.Reset()
		}
	}
	return out
}

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image   string   `yaml:"image"`
		Volumes []string `yaml:"volumes"`
		Secrets []string `yaml:"secrets"`
		Command []string `yaml:"command"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

func TestComposeConfigValidates(t *testing.T) {
	root := repoRoot(t)
	var r result
	switch {
	case hasTool("docker-compose"):
		r = runTool(t, 2*time.Minute, root, nil, "docker-compose", "-f", "docker-compose.yml", "config", "-q")
	case hasTool("docker") && runTool(t, time.Minute, root, nil, "docker", "compose", "version").err == nil:
		r = runTool(t, 2*time.Minute, root, nil, "docker", "compose", "-f", "docker-compose.yml", "config", "-q")
	default:
		t.Skip("neither docker-compose nor docker compose is installed (Debian: apt-get install docker-compose)")
	}
	if r.err != nil || strings.TrimSpace(r.stdout+r.stderr) != "" {
		t.Fatalf("compose config -q: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
}

func hasTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

func TestComposeServicesAndBuilds(t *testing.T) {
	root := repoRoot(t)
	c := loadCompose(t)
	count := map[string]int{}
	for name, s := range c.Services {
		switch {
		case strings.HasPrefix(name, "etcd"):
			count["etcd"]++
		case strings.HasPrefix(name, "obhost"):
			count["obhost"]++
		case strings.HasPrefix(name, "backend"):
			count["backend"]++
		}
		if s.Build == nil {
			if s.Image == "" {
				t.Errorf("service %s has neither build nor image", name)
			}
			continue
		}
		ctx := filepath.Join(root, filepath.FromSlash(s.Build.Context))
		df := filepath.Join(ctx, filepath.FromSlash(s.Build.Dockerfile))
		if fi, err := os.Stat(ctx); err != nil || !fi.IsDir() {
			t.Errorf("service %s: build context %s: not a folder (%v)", name, s.Build.Context, err)
			continue
		}
		if _, err := os.Stat(df); err != nil {
			t.Errorf("service %s: Dockerfile: %v", name, err)
			continue
		}
		// Every COPY from the build context names files that exist in it.
		for _, in := range parseDockerfile(t, df) {
			if in.cmd != "COPY" || len(in.args) < 2 || strings.HasPrefix(in.args[0], "--from=") {
				continue
			}
			srcs := in.args[:len(in.args)-1]
			for _, src := range srcs {
				if strings.HasPrefix(src, "--") {
					continue
				}
				if _, err := os.Stat(filepath.Join(ctx, filepath.FromSlash(src))); err != nil {
					t.Errorf("%s line %d: COPY %s: not in the build context %s", s.Build.Dockerfile, in.line, src, s.Build.Context)
				}
			}
		}
	}
	if count["etcd"] != 3 || count["obhost"] != 3 || count["backend"] != 2 {
		t.Errorf("services: %v, want 3 etcd, 3 obhost, 2 backend", count)
	}
}

// TestComposeMountsWhatTheGeneratorWrites runs onionbalance-config as docker-compose.yml's comments
// say, and checks that every file the compose file mounts from ./obconfig exists in its output, and
// that the files it mounts from the repository exist.
func TestComposeMountsWhatTheGeneratorWrites(t *testing.T) {
	root := repoRoot(t)
	bin := buildBinaries(t)
	work := t.TempDir()
	r := runTool(t, time.Minute, work, nil, filepath.Join(bin, "onionbalance-config"), "--cluster", "-n", "2", "--output", "obconfig")
	if r.err != nil {
		t.Fatalf("onionbalance-config: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(readRepoFile(t, "docker-compose.yml"), "onionbalance-config --cluster -n 2 --output obconfig") {
		t.Error("docker-compose.yml no longer tells how ./obconfig is generated")
	}
	c := loadCompose(t)
	check := func(what, src string) {
		src = strings.TrimPrefix(src, "./")
		base := root
		if strings.HasPrefix(src, "obconfig/") {
			base = work
		}
		if _, err := os.Stat(filepath.Join(base, filepath.FromSlash(src))); err != nil {
			t.Errorf("%s: %s does not exist (%v)", what, src, err)
		}
	}
	n := 0
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				check("service "+name+" volume", src)
				n++
			}
		}
	}
	for name, s := range c.Secrets {
		check("secret "+name, s.File)
		n++
	}
	if n < 6 {
		t.Errorf("only %d bind mounts and secrets checked", n)
	}
}

// TestDockerfileCopiesEveryPackage checks that the obhost image's build copies every folder holding a
// package the two binaries need.
func TestDockerfileCopiesEveryPackage(t *testing.T) {
	root := repoRoot(t)
	copied := map[string]bool{}
	var from []string
	for _, in := range parseDockerfile(t, filepath.Join(root, "deploy/docker/Dockerfile")) {
		switch in.cmd {
		case "FROM":
			from = append(from, in.args[0])
		case "COPY":
			if !strings.HasPrefix(in.args[0], "--from=") {
				for _, a := range in.args[:len(in.args)-1] {
					copied[strings.TrimSuffix(a, "/")] = true
				}
			}
		}
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "golang:1.26") || !strings.HasPrefix(from[1], "debian:bookworm") {
		t.Errorf("stages %v, want golang:1.26... then debian:bookworm...", from)
	}
	r := runTool(t, 2*time.Minute, root, nil, "go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}`, "./cmd/onionbalance", "./cmd/onionbalance-config")
	if r.err != nil {
		t.Fatalf("go list: %v\n%s", r.err, r.stderr)
	}
	need := map[string]bool{}
	for _, dir := range strings.Fields(r.stdout) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		need[top] = true
	}
	if len(need) == 0 {
		t.Fatal("go list found no packages of this module")
	}
	var missing []string
	for top := range need {
		if !copied[top] {
			missing = append(missing, top)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("deploy/docker/Dockerfile does not COPY %v, which the binaries import", missing)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !copied[f] {
			t.Errorf("deploy/docker/Dockerfile does not COPY %s", f)
		}
	}
}

func TestEntrypointScriptsParse(t *testing.T) {
	for _, tc := range []struct{ shell, rel string }{
		{"bash", "deploy/docker/obhost-entrypoint.sh"},
		{"sh", "deploy/docker/backend-entrypoint.sh"},
	} {
		path := repoFile(t, tc.rel)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", tc.rel)
		}
		sh := lookTool(t, tc.shell)
		if r := runTool(t, time.Minute, filepath.Dir(path), nil, sh, "-n", path); r.err != nil {
			t.Errorf("%s -n %s: %v\n%s", tc.shell, tc.rel, r.err, r.stderr)
		}
	}
}

// TestComposeObhostConfigLoads runs the daemon on the obhosts' config file (with the key-encryption
// key moved to a temporary file): it must pass every check of the file and the key and stop only
// because no tor answers.
func TestComposeObhostConfigLoads(t *testing.T) {
	const rel = "deploy/docker/compose-obhost.yaml"
	const kekPath = "/run/onionbalance/key-encryption-key"
	bin := buildBinaries(t)
	dir := t.TempDir()
	text := readRepoFile(t, rel)
	if !strings.Contains(text, "key-encryption-key-file: "+kekPath+"\n") {
		t.Fatalf("%s: the key-encryption key is no longer at %s, where the entrypoint puts it", rel, kekPath)
	}
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(text, kekPath, kek, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, 2*time.Minute, dir, nil, filepath.Join(bin, "onionbalance"), "-c", cfg,
		"--etcd-endpoints", "http://127.0.0.1:1", "--node-name", "obhost1",
		"--tor-control", "unix:"+filepath.Join(dir, "no-tor.sock"))
	out := r.stdout + r.stderr
	if r.err == nil || !strings.Contains(out, "cannot use the tor control port") {
		t.Fatalf("want the daemon to stop at the tor control port, got %v:\n%s", r.err, out)
	}
}
