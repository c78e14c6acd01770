namespace DeploymentRollback.Engine;

/// <summary>
/// Reads the two samples a <see cref="LogComparison"/> compares: the logs the checkpoint kept and the target's logs since
/// the rollback began. Reading never fails a rollback: a failure, or a read slower than <see cref="ReadTimeout"/>, is no
/// evidence, with the reason; only the user's cancellation stops it.
/// </summary>
internal static class LogEvidence
{
    internal static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);

    public static async Task<LogComparison> CompareAsync(IReadsLogs reader, RollbackCheckpoint checkpoint, DateTimeOffset changedAt, CancellationToken cancellation)
    {
        var before = CheckpointLines(checkpoint);
        LogSample? after;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            timeout.CancelAfter(ReadTimeout);
            try
            {
                after = await reader.ReadRecentLogsAsync(changedAt, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellation.IsCancellationRequested)
            {
                var why = e is OperationCanceledException
                    ? $"reading the target's logs after the rollback took longer than {ReadTimeout.TotalSeconds:0} s"
                    : $"the target's logs could not be read after the rollback ({SecretRedactor.Redact(e.Message).Trim()})";
                return LogComparison.NoEvidence(why, before, DateTimeOffset.UtcNow - changedAt, checkpoint.Name);
            }
        }

        var window = DateTimeOffset.UtcNow - changedAt;

        return after is null
            ? LogComparison.NoEvidence("the target had no container or pod to read logs from after the rollback", before, window, checkpoint.Name)
            : LogComparison.Compare(before, after.Lines, window, checkpoint.Name) with { Sources = after.Sources, Capped = after.Capped };
    }

    /// <summary>The lines of the checkpoint's logs (its newest per file, as many as a source may give); a file gone or unreadable gives none.</summary>
    private static List<string> CheckpointLines(RollbackCheckpoint checkpoint)
    {
        var lines = new List<string>();
        foreach (var log in checkpoint.Logs)
        {
            try
            {
                var text = File.ReadAllText(System.IO.Path.Combine(checkpoint.Folder, log));
                lines.AddRange(LogSample.Split(text).TakeLast(LogSample.MaxLinesPerSource));
            }
            catch (Exception e) when (StateFaults.IsFileFault(e))
            {
            }
        }

        return lines;
    }
}
