namespace DeploymentRollback.Engine;

/// <summary>
/// Where a tool keeps its helper process (ToolHelper): started once, on first use or early to overlap the module's own
/// work, shared by every command after that, and stopped with the tool (or when the tool forgets it; the next use then
/// starts another).
/// </summary>
internal sealed class ToolHelperSlot
{
    private readonly object gate = new();
    private Task<ToolHelper?>? started;

    /// <summary>The helper's start, begun by the first caller; later callers get the same one.</summary>
    public Task<ToolHelper?> StartOnce(Func<Task<ToolHelper?>> start)
    {
        lock (gate)
        {
            return started ??= start();
        }
    }

    /// <summary>The helper if it runs, else null: it cannot serve this project, or it ended (a crash or a timeout mid-run).</summary>
    public async Task<ToolHelper?> RunningAsync(Func<Task<ToolHelper?>> start) =>
        await StartOnce(start).ConfigureAwait(false) is { Alive: true } running ? running : null;

    /// <summary>Stops the helper, if one was started.</summary>
    public async ValueTask StopAsync()
    {
        Task<ToolHelper?>? stopping;
        lock (gate)
        {
            (stopping, started) = (started, null);
        }

        if (stopping is null)
        {
            return;
        }

        ToolHelper? running;
        try
        {
            running = await stopping.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // It never started (stopped while it started, or its start failed): nothing is left running.
            return;
        }

        if (running is not null)
        {
            await running.DisposeAsync().ConfigureAwait(false);
        }
    }
}
