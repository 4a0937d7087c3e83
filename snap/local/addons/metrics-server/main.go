// metrics-server v0.8.0's options and server, built against the k8s.io modules at v0.36.3.
// From v0.35 on, the k8s.io API types name their OpenAPI models themselves (OpenAPIModelName:
// io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics) and the OpenAPI builder looks definitions
// up by those names; v0.8.0's generated definitions are keyed by Go package path
// (k8s.io/metrics/pkg/apis/metrics/v1beta1.NodeMetrics), so its own command panics at start
// ("cannot find model definition"). This entry point parses the same flags, and files each
// generated definition under its model name too before the server is completed.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/pkg/version"
	"k8s.io/component-base/logs"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"

	"sigs.k8s.io/metrics-server/cmd/metrics-server/app/options"
)

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()
	opts := options.NewOptions()
	if err := parseFlags(opts, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "metrics-server:", err)
		os.Exit(2)
	}
	if opts.ShowVersion {
		fmt.Println(version.Get().GitVersion)
		return
	}
	if err := serve(opts, genericapiserver.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "metrics-server:", err)
		os.Exit(1)
	}
}

// parseFlags takes every named flag set of the options, plus klog's Go flags, in one set.
func parseFlags(opts *options.Options, args []string) error {
	all := pflag.NewFlagSet("metrics-server", pflag.ContinueOnError)
	for _, set := range opts.Flags().FlagSets {
		all.AddFlagSet(set)
	}
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	logs.AddGoFlags(klogFlags)
	all.AddGoFlagSet(klogFlags)
	return all.Parse(args)
}

// serve validates the options, builds the server's configuration, adds the model names to its
// OpenAPI definitions (those built already and those built later), and runs until stopped.
func serve(opts *options.Options, stop <-chan struct{}) error {
	if problems := opts.Validate(); len(problems) > 0 {
		return problems[0]
	}
	config, err := opts.ServerConfig()
	if err != nil {
		return err
	}
	v2, v3 := config.Apiserver.OpenAPIConfig, config.Apiserver.OpenAPIV3Config
	v2.GetDefinitions = withModelNames(v2.GetDefinitions)
	v3.GetDefinitions = withModelNames(v3.GetDefinitions)
	addModelNames(v2.Definitions)
	addModelNames(v3.Definitions)
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	return completed.RunUntil(stop)
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
