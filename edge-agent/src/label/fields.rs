//! The fields of an HJ 1276-2022 hazardous-waste label (危险废物标签, Appendix A).

use serde::{Deserialize, Serialize};

/// One field of the label, in the order the template prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelField {
    /// 废物名称
    WasteName,
    /// 废物类别, HW01..HW50
    Category,
    /// 废物代码, ddd-ddd-dd
    WasteCode,
    /// 废物形态: 固态 / 半固态 / 液态 / 气态
    Form,
    /// 危险特性: 毒性 T, 腐蚀性 C, 易燃性 I, 反应性 R, 感染性 In
    Hazards,
    /// 主要成分
    MainComponents,
    /// 有害成分
    HarmfulComponents,
    /// 注意事项
    Precautions,
    /// 数字识别码, 37 characters in four segments
    IdCode,
    /// 产生/收集单位
    Company,
    /// 联系人
    ContactPerson,
    /// 联系方式 (telephone)
    ContactPhone,
    /// 产生日期, YYYY-MM-DD
    Date,
    /// 废物重量, a number and a unit (kg / t)
    Weight,
    /// 备注
    Remarks,
}

impl LabelField {
    pub const ALL: [LabelField; 15] = [
        Self::WasteName,
        Self::Category,
        Self::WasteCode,
        Self::Form,
        Self::Hazards,
        Self::MainComponents,
        Self::HarmfulComponents,
        Self::Precautions,
        Self::IdCode,
        Self::Company,
        Self::ContactPerson,
        Self::ContactPhone,
        Self::Date,
        Self::Weight,
        Self::Remarks,
    ];

    /// The key as the template prints it.
    pub fn key_zh(self) -> &'static str {
        match self {
            Self::WasteName => "废物名称",
            Self::Category => "废物类别",
            Self::WasteCode => "废物代码",
            Self::Form => "废物形态",
            Self::Hazards => "危险特性",
            Self::MainComponents => "主要成分",
            Self::HarmfulComponents => "有害成分",
            Self::Precautions => "注意事项",
            Self::IdCode => "数字识别码",
            Self::Company => "产生/收集单位",
            Self::ContactPerson => "联系人",
            Self::ContactPhone => "联系方式",
            Self::Date => "产生日期",
            Self::Weight => "废物重量",
            Self::Remarks => "备注",
        }
    }

    /// Other ways labels in the field print the key (older templates, local variants).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::WasteName => &["废物名称", "名称"],
            Self::Category => &["废物类别", "类别"],
            Self::WasteCode => &["废物代码", "代码"],
            Self::Form => &["废物形态", "形态"],
            Self::Hazards => &["危险特性"],
            Self::MainComponents => &["主要成分", "主要成份"],
            Self::HarmfulComponents => &["有害成分", "有害成份"],
            Self::Precautions => &["注意事项", "安全措施"],
            Self::IdCode => &["数字识别码", "识别码"],
            Self::Company => &["产生/收集单位", "产生单位", "收集单位", "产生（收集）单位", "产生(收集)单位"],
            Self::ContactPerson => &["联系人"],
            Self::ContactPhone => &["联系方式", "联系电话", "电话"],
            Self::Date => &["产生日期", "日期"],
            Self::Weight => &["废物重量", "重量"],
            Self::Remarks => &["备注"],
        }
    }

    /// The stable machine name (`waste_code`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Self::WasteName => "waste_name",
            Self::Category => "category",
            Self::WasteCode => "waste_code",
            Self::Form => "form",
            Self::Hazards => "hazards",
            Self::MainComponents => "main_components",
            Self::HarmfulComponents => "harmful_components",
            Self::Precautions => "precautions",
            Self::IdCode => "id_code",
            Self::Company => "company",
            Self::ContactPerson => "contact_person",
            Self::ContactPhone => "contact_phone",
            Self::Date => "date",
            Self::Weight => "weight",
            Self::Remarks => "remarks",
        }
    }
}
