using k8s.Models;

namespace DeploymentRollback.Engine.Kubernetes;

/// <summary>Reads pod states the way an on-call admin would: crash loops, image pulls, readiness.</summary>
internal static class PodProblems
{
    private static readonly HashSet<string> PullReasons = new(StringComparer.Ordinal) { "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull" };

    public static bool IsFailing(V1Pod pod) => Failing(new[] { pod }).Any() || pod.Status?.Phase is "Failed";

    /// <summary>(pod, container) for every container that is waiting on an error or running but not ready.</summary>
    public static IEnumerable<(string Pod, string Container)> Failing(IEnumerable<V1Pod> pods)
    {
        foreach (var pod in pods)
        {
            foreach (var status in pod.Status?.ContainerStatuses ?? new List<V1ContainerStatus>())
            {
                var waiting = status.State?.Waiting?.Reason;
                if ((waiting is not null && waiting != "ContainerCreating" && waiting != "PodInitializing") || (status.State?.Running is not null && !status.Ready) || status.State?.Terminated is { ExitCode: not 0 })
                {
                    yield return (pod.Metadata.Name, status.Name);
                }
            }
        }
    }

    public static IEnumerable<string> Describe(IEnumerable<V1Pod> pods)
    {
        foreach (var pod in pods)
        {
            foreach (var status in pod.Status?.ContainerStatuses ?? new List<V1ContainerStatus>())
            {
                var waiting = status.State?.Waiting;
                if (waiting?.Reason is "CrashLoopBackOff")
                {
                    var exit = status.LastState?.Terminated;
                    yield return $"pod/{pod.Metadata.Name} container {status.Name} is crash-looping ({status.RestartCount} restarts{(exit is null ? "" : $", last exit code {exit.ExitCode}{(exit.Reason is { } r ? " " + r : "")}")}).";
                }
                else if (waiting?.Reason is { } reason && PullReasons.Contains(reason))
                {
                    yield return $"pod/{pod.Metadata.Name} container {status.Name} cannot pull its image {status.Image} ({reason}{(waiting.Message is { } m ? ": " + m : "")}).";
                }
                else if (waiting?.Reason is { } other && other is not ("ContainerCreating" or "PodInitializing"))
                {
                    yield return $"pod/{pod.Metadata.Name} container {status.Name} is waiting: {other}{(waiting.Message is { } m ? ": " + m : "")}.";
                }
                else if (status.State?.Running is not null && !status.Ready)
                {
                    yield return $"pod/{pod.Metadata.Name} container {status.Name} runs but is not ready (its readiness probe fails).";
                }
            }
        }
    }

    /// <summary>Never completed (deadline, crash loop, image pull) or a failing health check (readiness); Unknown when all looks well.</summary>
    public static FailureType Classify(RolloutState rollout, IEnumerable<V1Pod> pods)
    {
        var statuses = pods.SelectMany(p => p.Status?.ContainerStatuses ?? new List<V1ContainerStatus>()).ToList();
        if (rollout.IsFailed || statuses.Any(s => s.State?.Waiting?.Reason is { } reason && (reason == "CrashLoopBackOff" || PullReasons.Contains(reason))))
        {
            return FailureType.DeploymentNeverCompleted;
        }

        return statuses.Any(s => s.State?.Running is not null && !s.Ready) ? FailureType.HealthCheckFailed : FailureType.Unknown;
    }

    public static string Summary(V1Pod pod)
    {
        var statuses = pod.Status?.ContainerStatuses ?? new List<V1ContainerStatus>();
        var ready = statuses.Count(s => s.Ready);
        var reason = statuses.Select(s => s.State?.Waiting?.Reason).FirstOrDefault(r => r is not null) ?? pod.Status?.Phase ?? "Unknown";
        return $"{pod.Metadata.Name} {ready}/{statuses.Count} ready {reason}, {statuses.Sum(s => s.RestartCount)} restarts";
    }
}
