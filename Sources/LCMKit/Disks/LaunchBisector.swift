/// Runs groups of disks through appliance launches and, when a launch fails, finds the disk(s)
/// to blame without relaunching once per disk.
///
/// A failed launch first asks `suspects` for a cheap diagnosis (a disk re-validation, an error
/// message naming one drive); only when that finds nothing does it split the group in halves and
/// try each (bisection: one bad disk among n costs about 2·log2(n) extra launches, not n).
/// A launch that failed for no disk's sake (the appliance hung while booting) is retried once
/// with the same group.
struct LaunchBisector<Item> {
    /// Launches `group` and does the work. Returns the items it could not get to (the appliance
    /// died midway; the item that killed it already blamed by `attempt`), to run in a new launch.
    var attempt: ([Item]) throws -> [Item]
    /// Items of a failed group known to be bad without another launch (indexes into the group).
    var suspects: ([Item], Error) -> [Int]
    /// Records an item as the cause of a failed launch.
    var blame: (Item, Error) -> Void
    /// True for a launch failure no disk caused, worth one more try of the same group.
    var isTransient: (Error) -> Bool = { _ in false }

    struct Tally: Equatable {
        var launches = 0
        var failedLaunches = 0
    }

    func run(_ groups: [[Item]]) -> Tally {
        var tally = Tally()
        var queue = groups.filter { !$0.isEmpty }.map { (items: $0, retried: false) }
        // Bisecting one bad disk out of n costs about 2·log2(n) failed launches. Far more failures
        // mean the appliance itself does not start (no kernel, no memory): stop relaunching then.
        let total = queue.reduce(0) { $0 + $1.items.count }
        let budget = 2 * (Int.bitWidth - max(total, 1).leadingZeroBitCount) + 2 * queue.count + 2
        var lastError: Error?
        while !queue.isEmpty {
            let (group, retried) = queue.removeFirst()
            if tally.failedLaunches >= budget, let lastError {
                for item in group { blame(item, lastError) }
                continue
            }
            tally.launches += 1
            do {
                let remaining = try attempt(group)
                if !remaining.isEmpty { queue.insert((remaining, false), at: 0) }
            } catch {
                tally.failedLaunches += 1
                lastError = error
                if !retried, isTransient(error) {
                    queue.insert((group, true), at: 0)
                    continue
                }
                if group.count == 1 {
                    blame(group[0], error)
                    continue
                }
                let suspected = Set(suspects(group, error).filter { group.indices.contains($0) })
                if !suspected.isEmpty {
                    for index in suspected.sorted() { blame(group[index], error) }
                    let rest = group.enumerated().filter { !suspected.contains($0.offset) }.map(\.element)
                    if !rest.isEmpty { queue.insert((rest, false), at: 0) }
                    continue
                }
                let middle = group.count / 2
                queue.insert(contentsOf: [(Array(group[..<middle]), false), (Array(group[middle...]), false)], at: 0)
            }
        }
        return tally
    }
}
