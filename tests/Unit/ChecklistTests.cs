using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class ChecklistTests
{
    [Fact]
    public void A_step_cancelled_by_the_user_does_not_tick_no_errors_during_rollback()
    {
        using var temp = new TempDirectory();
        var now = DateTimeOffset.UtcNow;
        var attempt = new RollbackResult
        {
            AttemptId = "cancelled01", Strategy = "Git", TargetKey = "git:/srv/app", StartedAt = now, Outcome = RollbackOutcome.Failed,
            Steps =
            {
                new StepResult { Name = "Checkpoint", Status = StepStatus.Succeeded, StartedAt = now },
                new StepResult { Name = "Checkout v2.3.0", Status = StepStatus.Cancelled, StartedAt = now },
            },
        };

        var item = Checklist.Build(StateRoot.Open(temp.Path), attempt).Single(i => i.Item == "Verified no errors during rollback");

        Assert.False(item.Done);
    }
}
