package deploytest

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// composeOverride is the part of deploy/docker/compose.testnet.yaml the tests read.
type composeOverride struct {
	Services map[string]map[string]any `yaml:"services"`
}

// TestComposeTestnetOverrideKeepsShippedServices checks that the private-network override the compose
// drills run (deploy/dockertest) changes none of the shipped services' images, builds, commands or
// entrypoints (what is drilled is docker-compose.yml), gives every container a distinct fixed
// address, and merges with docker-compose.yml into a valid file.
func TestComposeTestnetOverrideKeepsShippedServices(t *testing.T) {
	const rel = "deploy/docker/compose.testnet.yaml"
	var o composeOverride
	if err := yaml.Unmarshal([]byte(readRepoFile(t, rel)), &o); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	shipped := loadCompose(t)
	addrs := map[string]string{}
	for name, svc := range o.Services {
		if _, ok := shipped.Services[name]; ok {
			for _, key := range []string{"image", "build", "command", "entrypoint"} {
				if _, set := svc[key]; set {
					t.Errorf("%s: service %s of docker-compose.yml gets a different %s: the drills must run the shipped service", rel, name, key)
				}
			}
		}
		nets, _ := svc["networks"].(map[string]any)
		for net, v := range nets {
			m, _ := v.(map[string]any)
			ip, _ := m["ipv4_address"].(string)
			if ip == "" {
				continue
			}
			if other, dup := addrs[ip]; dup {
				t.Errorf("%s: %s and %s both have the address %s on %s", rel, other, name, ip, net)
			}
			addrs[ip] = name
		}
	}
	for name := range shipped.Services {
		if _, ok := o.Services[name]; !ok && name != "obinit" {
			t.Errorf("%s: service %s of docker-compose.yml is not placed on the private network", rel, name)
		}
	}
	if len(addrs) < 17 {
		t.Errorf("%s: only %d fixed addresses, want one per container (authorities, relays, client, etcd, obhosts on two networks, backends)", rel, len(addrs))
	}

	if !hasTool("docker-compose") {
		t.Skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
	}
	r := runTool(t, 2*time.Minute, repoRoot(t), []string{"OB_TESTNET_DIR=" + t.TempDir()},
		"docker-compose", "-f", "docker-compose.yml", "-f", rel, "config", "-q")
	if r.err != nil || strings.TrimSpace(r.stdout+r.stderr) != "" {
		t.Fatalf("docker-compose -f docker-compose.yml -f %s config -q: %v\n%s%s", rel, r.err, r.stdout, r.stderr)
	}
}

// TestDockerScriptsParse checks that the scripts of the compose drills are executable and parse.
func TestDockerScriptsParse(t *testing.T) {
	sh := lookTool(t, "bash")
	for _, rel := range []string{"deploy/docker/base-images.sh", "deploy/docker/engine.sh", "deploy/docker/testnet.sh"} {
		path := repoFile(t, rel)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", rel)
		}
		if r := runTool(t, time.Minute, repoRoot(t), nil, sh, "-n", path); r.err != nil {
			t.Errorf("bash -n %s: %v\n%s", rel, r.err, r.stderr)
		}
	}
}
