//! One outbox record as stored: when it was committed, its topic and its
//! payload. redb checksums pages; this layout only has to be unambiguous.
//!
//! `[version u8 = 1][created_ms u64 LE][topic_len u16 LE][topic][payload]`

/// Which of an event's two messages a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Event = 0,
    Evidence = 1,
}

/// Position in delivery order: `(rank, seq, part)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub rank: u8,
    pub seq: u64,
    pub part: Part,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub created_ms: u64,
    pub topic: String,
    pub payload: Vec<u8>,
}

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 2;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record is {0} bytes, shorter than its header")]
    Truncated(usize),
    #[error("record layout version {0} is unknown")]
    Version(u8),
    #[error("record topic is not UTF-8 or runs past the end")]
    Topic,
}

impl StoredRecord {
    pub fn encode(&self) -> Vec<u8> {
        let topic = self.topic.as_bytes();
        // Topics are built by the agent from validated ids; MQTT caps them at 64 KiB.
        let topic_len = topic.len().min(u16::MAX as usize);
        let mut out = Vec::with_capacity(HEADER + topic_len + self.payload.len());
        out.push(VERSION);
        out.extend_from_slice(&self.created_ms.to_le_bytes());
        out.extend_from_slice(&(topic_len as u16).to_le_bytes());
        out.extend_from_slice(&topic[..topic_len]);
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn decode(raw: &[u8]) -> Result<Self, RecordError> {
        if raw.len() < HEADER {
            return Err(RecordError::Truncated(raw.len()));
        }
        if raw[0] != VERSION {
            return Err(RecordError::Version(raw[0]));
        }
        let created_ms = u64::from_le_bytes(raw[1..9].try_into().expect("8 bytes"));
        let topic_len = u16::from_le_bytes(raw[9..11].try_into().expect("2 bytes")) as usize;
        let topic = raw.get(HEADER..HEADER + topic_len).ok_or(RecordError::Topic)?;
        let topic = std::str::from_utf8(topic).map_err(|_| RecordError::Topic)?.to_string();
        Ok(Self { created_ms, topic, payload: raw[HEADER + topic_len..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damaged_ones_are_errors_not_panics() {
        let r = StoredRecord { created_ms: 1_764_000_000_123, topic: "zwaste/v1/s/d/events/leak".into(), payload: b"{\"a\":1}".to_vec() };
        let raw = r.encode();
        assert_eq!(StoredRecord::decode(&raw), Ok(r));
        for cut in 0..HEADER {
            assert_eq!(StoredRecord::decode(&raw[..cut]), Err(RecordError::Truncated(cut)));
        }
        assert_eq!(StoredRecord::decode(&raw[..HEADER + 3]), Err(RecordError::Topic));
        let mut wrong = raw.clone();
        wrong[0] = 9;
        assert_eq!(StoredRecord::decode(&wrong), Err(RecordError::Version(9)));
    }
}
