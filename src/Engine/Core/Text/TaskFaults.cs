namespace DeploymentRollback.Engine;

internal static class TaskFaults
{
    /// <summary>Observes a task nobody will await any more, so that its failure is dropped rather than left unobserved.</summary>
    public static void DropFaults(this Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
