/// How a command reports: text for people, JSON for scripts, CSV for spreadsheets (listings only).
public enum OutputFormat: String, CaseIterable, Sendable, Codable {
    case text, json, csv
}
