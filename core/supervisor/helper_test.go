package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The test binary doubles as a plugin: when KEYWAY_TEST_PLUGIN is set it
// serves testPlugin instead of running tests, so the supervisor is tested
// against real plugin processes.
const envMode = "KEYWAY_TEST_PLUGIN"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		servePlugin(mode)
		return
	}
	os.Exit(m.Run())
}

func servePlugin(mode string) {
	switch mode {
	case "crash-at-start":
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
	case "fork-and-hang":
		forkAndHang()
	case "hold-stdout":
		// The forked child: it holds the plugin's standard output and
		// outlives the plugin unless its process group is killed.
		sleepForever()
	}
	sdk.Serve(&testPlugin{mode: mode})
}

// envPIDFile names the file where the "fork-and-hang" plugin writes its
// child's pid.
const envPIDFile = "KEYWAY_TEST_CHILD_PID_FILE"

// forkAndHang starts a child that inherits standard output, then never
// completes go-plugin's handshake.
func forkAndHang() {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envMode+"=hold-stdout")
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot fork:", err)
		os.Exit(5)
	}
	if err := os.WriteFile(os.Getenv(envPIDFile), []byte(strconv.Itoa(child.Process.Pid)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "cannot record the child:", err)
		os.Exit(5)
	}
	sleepForever()
}

// sleepForever blocks without the runtime calling it a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// testPlugin is a protocol plugin that greets each connection and echoes.
type testPlugin struct {
	mode     string
	greeting string
}

func (p *testPlugin) Info() sdk.Info {
	info := sdk.Info{Name: "echo", Kind: sdk.KindProtocol, Version: "0.0.1-test"}
	if p.mode == "api99" {
		info.APIVersions = []uint32{99}
	}
	return info
}

func (p *testPlugin) ConfigSchema() sdk.Schema {
	return sdk.Schema{
		Attributes: []sdk.Attribute{{Name: "greeting", Type: sdk.TypeString, Required: true}},
		Blocks: []sdk.Block{{Name: "limits", Body: sdk.Schema{
			Attributes: []sdk.Attribute{{Name: "max_sessions", Type: sdk.TypeNumber}},
		}}},
	}
}

type testConfig struct {
	Greeting string `json:"greeting"`
	Limits   *struct {
		MaxSessions *int `json:"max_sessions"`
	} `json:"limits"`
}

func (p *testPlugin) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg testConfig
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	var diags sdk.Diagnostics
	if cfg.Greeting == "" {
		diags.Add("greeting", "must not be empty", "")
	}
	if cfg.Limits != nil && cfg.Limits.MaxSessions != nil && *cfg.Limits.MaxSessions < 1 {
		diags.Add("limits.max_sessions", "must be at least 1", fmt.Sprintf("got %d", *cfg.Limits.MaxSessions))
	}
	if err := diags.Err(); err != nil {
		return err
	}
	p.greeting = cfg.Greeting
	if p.mode == "busy" {
		go burnCPU()
	}
	if p.mode == "exit-soon" {
		// Crash once running, after the launch has completed.
		go func() {
			time.Sleep(300 * time.Millisecond)
			os.Exit(4)
		}()
	}
	return nil
}

func (p *testPlugin) Health(ctx context.Context) error {
	switch p.mode {
	case "unhealthy":
		return errors.New("always unhealthy")
	case "busy", "hung":
		// Never answers in time: "busy" while burning CPU, "hung" idle,
		// as a deadlocked plugin is.
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// burnCPU keeps about half a core busy, as a plugin serving a burst of
// sessions does.
func burnCPU() {
	for {
		for end := time.Now().Add(10 * time.Millisecond); time.Now().Before(end); {
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *testPlugin) ServeSession(_ context.Context, s *sdk.Session) {
	n, _ := io.WriteString(s.Conn, p.greeting+"\n")
	s.CountToClient(n)
	buf := make([]byte, 4096)
	for {
		n, err := s.Conn.Read(buf)
		if n > 0 {
			s.CountFromClient(n)
			w, _ := s.Conn.Write(buf[:n])
			s.CountToClient(w)
		}
		if err != nil {
			return
		}
	}
}
