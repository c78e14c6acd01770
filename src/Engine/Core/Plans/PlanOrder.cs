namespace DeploymentRollback.Engine;

/// <summary>
/// The order a plan takes its components back in. By stage (flags, configuration, application, data); an explicit
/// DependsOn overrides it: a component goes back before the components it depends on, as undeploying reverses deploying.
/// Components of one wave do not depend on each other and run in parallel.
/// </summary>
public static class PlanOrder
{
    /// <summary>A cycle in the dependencies, as names in order (the first repeated at the end), or null.</summary>
    public static IReadOnlyList<string>? FindCycle(IReadOnlyDictionary<string, IReadOnlyList<string>> dependsOn)
    {
        var state = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var path = new List<string>();
        foreach (var start in dependsOn.Keys)
        {
            if (Visit(start) is { } cycle)
            {
                return cycle;
            }
        }

        return null;

        IReadOnlyList<string>? Visit(string name)
        {
            if (state.TryGetValue(name, out var seen))
            {
                if (seen == 1)
                {
                    var from = path.FindIndex(p => p.Equals(name, StringComparison.OrdinalIgnoreCase));
                    return path.Skip(from).Append(path[from]).ToList();
                }

                return null;
            }

            state[name] = 1;
            path.Add(name);
            foreach (var next in dependsOn.TryGetValue(name, out var list) ? list : Array.Empty<string>())
            {
                if (dependsOn.ContainsKey(next) && Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            state[name] = 2;
            return null;
        }
    }

    /// <summary>The wave (1, 2, ...) of every component; the dependencies must have no cycle.</summary>
    public static IReadOnlyDictionary<string, int> Waves(IReadOnlyList<(string Name, RollbackStage Stage, IReadOnlyList<string> DependsOn)> components)
    {
        // A component that depends on c goes back before c: c's level is above each of theirs and at least its stage's.
        var level = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        int Level(string name)
        {
            if (level.TryGetValue(name, out var known))
            {
                return known;
            }

            var self = components.First(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
            var value = (int)self.Stage;
            foreach (var dependant in components.Where(c => c.DependsOn.Contains(name, StringComparer.OrdinalIgnoreCase)))
            {
                value = Math.Max(value, Level(dependant.Name) + 1);
            }

            return level[name] = value;
        }

        var levels = components.ToDictionary(c => c.Name, c => Level(c.Name), StringComparer.OrdinalIgnoreCase);
        var distinct = levels.Values.Distinct().Order().ToList();
        return levels.ToDictionary(l => l.Key, l => distinct.IndexOf(l.Value) + 1, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The components that depend on name, directly or through others.</summary>
    public static IReadOnlySet<string> Dependants(ServicePlan plan, string name)
    {
        var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<string>(new[] { name });
        while (queue.Count > 0)
        {
            var current = queue.Dequeue();
            foreach (var dependant in plan.Components.Where(c => c.DependsOn.Contains(current, StringComparer.OrdinalIgnoreCase)))
            {
                if (found.Add(dependant.Name))
                {
                    queue.Enqueue(dependant.Name);
                }
            }
        }

        return found;
    }
}
