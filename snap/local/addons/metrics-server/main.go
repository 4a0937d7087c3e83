// metrics-server v0.8.0 (its cmd/metrics-server/app, unchanged in behaviour) built against the
// k8s.io modules at v0.36.3. From v0.35 on, the k8s.io API types name their OpenAPI models
// themselves (OpenAPIModelName: io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics), and the
// OpenAPI builder looks definitions up by those names; metrics-server v0.8.0's generated
// definitions are keyed by Go package path (k8s.io/metrics/pkg/apis/metrics/v1beta1.NodeMetrics),
// so the server panics at start ("cannot find model definition"). This main is upstream's, with
// one addition: each generated definition is also reachable under its model name.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/pkg/version"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/logs"
	"k8s.io/component-base/term"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"

	"sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"
)

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()

	if len(os.Getenv("GOMAXPROCS")) == 0 {
		runtime.GOMAXPROCS(runtime.NumCPU())
	}

	cmd := newMetricsServerCommand(genericapiserver.SetupSignalHandler())
	if err := cmd.Execute(); err != nil {
		panic(err)
	}
}

// newMetricsServerCommand is upstream's app.NewMetricsServerCommand, running runCommand below.
func newMetricsServerCommand(stopCh <-chan struct{}) *cobra.Command {
	opts := options.NewOptions()
	cmd := &cobra.Command{
		Short: "Launch metrics-server",
		Long:  "Launch metrics-server",
		RunE: func(c *cobra.Command, args []string) error {
			return runCommand(opts, stopCh)
		},
	}
	fs := cmd.Flags()
	nfs := opts.Flags()
	for _, f := range nfs.FlagSets {
		fs.AddFlagSet(f)
	}
	local := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	logs.AddGoFlags(local)
	nfs.FlagSet("logging").AddGoFlagSet(local)

	usageFmt := "Usage:\n  %s\n"
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cmd.SetUsageFunc(func(cmd *cobra.Command) error {
		fmt.Fprintf(cmd.OutOrStderr(), usageFmt, cmd.UseLine())
		cliflag.PrintSections(cmd.OutOrStderr(), nfs, cols)
		return nil
	})
	cmd.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		fmt.Fprintf(cmd.OutOrStdout(), "%s\n\n"+usageFmt, cmd.Long, cmd.UseLine())
		cliflag.PrintSections(cmd.OutOrStdout(), nfs, cols)
	})
	fs.AddGoFlagSet(local)
	return cmd
}

func runCommand(o *options.Options, stopCh <-chan struct{}) error {
	if o.ShowVersion {
		fmt.Println(version.Get().GitVersion)
		os.Exit(0)
	}
	if errors := o.Validate(); len(errors) > 0 {
		return errors[0]
	}
	config, err := o.ServerConfig()
	if err != nil {
		return err
	}
	// The configs hold the definitions already built (Definitions wins over GetDefinitions).
	v2, v3 := config.Apiserver.OpenAPIConfig, config.Apiserver.OpenAPIV3Config
	v2.GetDefinitions = withModelNames(v2.GetDefinitions)
	v3.GetDefinitions = withModelNames(v3.GetDefinitions)
	addModelNames(v2.Definitions)
	addModelNames(v3.Definitions)
	s, err := config.Complete()
	if err != nil {
		return err
	}
	return s.RunUntil(stopCh)
}

// withModelNames wraps a definitions function so that its result has the model names too.
func withModelNames(get common.GetOpenAPIDefinitions) common.GetOpenAPIDefinitions {
	return func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		definitions := get(ref)
		addModelNames(definitions)
		return definitions
	}
}

// addModelNames adds each definition under its model name (k8s.io/x/y.T -> io.k8s.x.y.T) too;
// the Go-path keys stay, for the references and dependencies inside the generated definitions.
func addModelNames(definitions map[string]common.OpenAPIDefinition) {
	models := map[string]common.OpenAPIDefinition{}
	for name, definition := range definitions {
		if model := util.ToRESTFriendlyName(name); model != name {
			if _, taken := definitions[model]; !taken {
				models[model] = definition
			}
		}
	}
	for model, definition := range models {
		definitions[model] = definition
	}
}
