namespace DeploymentRollback;

/// <summary>One Kubernetes workload, or every workload a label selector matches.</summary>
public sealed record KubernetesTarget : DeploymentTarget
{
    public string? Name { get; init; }
    /// <summary>The workload's namespace; the context's namespace when null.</summary>
    public string? Namespace { get; init; }
    /// <summary>Deployment, StatefulSet or DaemonSet.</summary>
    public string? Kind { get; init; }
    /// <summary>The kubeconfig file; KUBECONFIG, ~/.kube/config or the in-cluster service account when null.</summary>
    public string? KubeConfig { get; init; }
    public string? Context { get; init; }
    /// <summary>Every workload matching this label selector (the failing ones unless All).</summary>
    public string? Selector { get; init; }
    public bool All { get; init; }

    public override bool IsSelection => Selector is not null;
    /// <summary>How long to wait for the rolled-back workload to be running and healthy.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
}
