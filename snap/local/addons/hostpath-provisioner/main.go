// The hostpath-storage addon's provisioner: a PersistentVolume is a folder under one base
// folder of the node the provisioner runs on, created when a claim asks for it and removed
// when its volume is deleted (reclaim policy Delete). The controller loop, retries and events
// are sig-storage-lib-external-provisioner's; this file only creates and removes folders.
//
// The pod mounts the base folder at the same path as on the host, so a path this program
// creates is the path the kubelet mounts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const nodeAnnotation = "microk8s.io/hostpath-node"

type hostPathProvisioner struct {
	baseDir  string
	nodeName string
}

// volumeDir names a volume's folder after its claim, so that an operator looking at the
// node's disk can tell which claim owns which data.
func (p *hostPathProvisioner) volumeDir(options controller.ProvisionOptions) string {
	name := fmt.Sprintf("%s-%s-%s", options.PVC.Namespace, options.PVC.Name, options.PVName)
	return filepath.Join(p.baseDir, name)
}

func (p *hostPathProvisioner) Provision(_ context.Context, options controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	dir := p.volumeDir(options)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("create %s: %w", dir, err)
	}
	// Any user id in a pod may write its volume, as with MicroK8s's hostpath storage.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("chmod %s: %w", dir, err)
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if options.StorageClass.ReclaimPolicy != nil {
		reclaim = *options.StorageClass.ReclaimPolicy
	}
	hostPathType := v1.HostPathDirectoryOrCreate
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        options.PVName,
			Annotations: map[string]string{nodeAnnotation: p.nodeName},
		},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   options.PVC.Spec.AccessModes,
			MountOptions:                  options.StorageClass.MountOptions,
			Capacity: v1.ResourceList{
				v1.ResourceStorage: options.PVC.Spec.Resources.Requests[v1.ResourceStorage],
			},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
			// The data is on this node's disk: pods that use it must run here.
			NodeAffinity: &v1.VolumeNodeAffinity{
				Required: &v1.NodeSelector{
					NodeSelectorTerms: []v1.NodeSelectorTerm{{
						MatchExpressions: []v1.NodeSelectorRequirement{{
							Key:      "kubernetes.io/hostname",
							Operator: v1.NodeSelectorOpIn,
							Values:   []string{p.nodeName},
						}},
					}},
				},
			},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (p *hostPathProvisioner) Delete(_ context.Context, volume *v1.PersistentVolume) error {
	if volume.Spec.HostPath == nil {
		return &controller.IgnoredError{Reason: "not a hostPath volume"}
	}
	if node := volume.Annotations[nodeAnnotation]; node != p.nodeName {
		// Another node's provisioner owns that folder.
		return &controller.IgnoredError{Reason: fmt.Sprintf("volume is on node %q", node)}
	}
	dir := filepath.Clean(volume.Spec.HostPath.Path)
	// Never remove anything outside the base folder, whatever a volume object says.
	if !strings.HasPrefix(dir, p.baseDir+string(filepath.Separator)) {
		return fmt.Errorf("refusing to remove %s: not under %s", dir, p.baseDir)
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

func main() {
	name := flag.String("provisioner-name", "microk8s.io/hostpath", "the provisioner name StorageClasses refer to")
	baseDir := flag.String("base-dir", "", "the folder (same path on the host and in the pod) that holds the volumes")
	flag.Parse()
	nodeName := os.Getenv("NODE_NAME")
	if *baseDir == "" || nodeName == "" {
		klog.Fatal("--base-dir and the NODE_NAME environment variable are required")
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		klog.Fatalf("in-cluster config: %v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Fatalf("client: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	provisioner := &hostPathProvisioner{baseDir: filepath.Clean(*baseDir), nodeName: nodeName}
	// One replica with a Recreate strategy: no leader election (and no Lease rights) needed.
	pc := controller.NewProvisionController(ctx, client, *name, provisioner, controller.LeaderElection(false))
	pc.Run(ctx)
}
