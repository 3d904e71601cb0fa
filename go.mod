module github.com/coprocd/coprocd

go 1.26.0

// Why each direct dependency is here:
require (
	github.com/NVIDIA/go-nvml v0.13.4-1 // the NVML backend (declared core); its mocks test it without a GPU
	github.com/cilium/ebpf v0.22.0 // cgroup-device filters for device-node isolation (declared core)
	github.com/prometheus/client_golang v1.25.0 // the daemon's metrics in Prometheus text format
	github.com/schollz/progressbar/v3 v3.19.1 // the benchmark harness's progress display
	github.com/spf13/cobra v1.10.2 // the command lines of coprocd, coprocctl and coprocd-guest
	github.com/stretchr/testify v1.12.1 // tests (declared core)
	go.yaml.in/yaml/v3 v3.0.6 // strict YAML with line numbers: configuration and bench scenarios
	golang.org/x/sys v0.49.0 // every real kernel interface: ioctls, memfd, SCM_RIGHTS, SO_PEERCRED, eventfd (declared core)
	golang.org/x/term v0.46.0 // is stderr a terminal (progress display)
	gonum.org/v1/plot v0.17.0 // the benchmark reports' pictures (SVG, PNG)
	google.golang.org/grpc v1.85.0 // only the frontend benchmark's baseline: the same call over gRPC
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
